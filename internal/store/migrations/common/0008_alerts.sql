-- The hourly check for overdue money reads open payments and pending
-- refunds by age, and whether an object already has an alert event.
CREATE INDEX events_object ON events (object_id, type);
CREATE INDEX payments_status_created ON payments (status, created_at);
CREATE INDEX refunds_status_created ON refunds (status, created_at);
