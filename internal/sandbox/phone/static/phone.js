// The phone pages work without this script; it only saves clicks.
(function () {
  // Picking another user switches at once; without the script the form's
  // button does the same.
  var sel = document.querySelector("[data-user-switch]");
  if (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  }
  // After paying, go back to the merchant after a short countdown.
  var back = document.querySelector("[data-return]");
  var note = document.querySelector("[data-countdown]");
  if (back && note) {
    var left = 3;
    var tick = setInterval(function () {
      left -= 1;
      note.textContent = left + " 秒后返回商家";
      if (left <= 0) {
        clearInterval(tick);
        location.href = back.href;
      }
    }, 1000);
  }
  // Keep the confirm button from paying twice on a double tap.
  var confirm = document.querySelector("[data-confirm]");
  if (confirm) {
    confirm.form.addEventListener("submit", function () { confirm.disabled = true; });
  }
})();
