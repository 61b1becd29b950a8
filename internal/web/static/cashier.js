// The cashier's script: follow the payment's status over server-sent
// events and go to the result page when it is final; on in-wallet pages,
// hand the payment to the wallet's page bridge.
(function () {
  var main = document.querySelector("[data-payment][data-done]");
  if (!main) return;
  var id = main.getAttribute("data-payment");
  var done = main.getAttribute("data-done");
  var statusEl = document.querySelector("[data-status]");

  function settle(status) {
    if (statusEl) statusEl.setAttribute("data-status", status);
    if (status !== "requires_action") location.replace(done);
  }
  if (window.EventSource) {
    var es = new EventSource("/pay/" + id + "/events");
    es.addEventListener("status", function (e) {
      var status = JSON.parse(e.data).status;
      if (status !== "requires_action") es.close();
      settle(status);
    });
  } else {
    setInterval(function () {
      fetch("/pay/" + id + "/status").then(function (r) { return r.json(); }).then(function (j) { settle(j.status); });
    }, 1500);
  }

  var button = document.querySelector("[data-pay]");
  if (!button) return;
  var channel = main.getAttribute("data-channel");
  var params = JSON.parse(document.getElementById("invoke").textContent || "{}");
  var waiting = document.querySelector("[data-waiting]");
  function wait() { waiting.hidden = false; button.hidden = true; }
  // Back from the wallet's confirmation with its answer in the fragment.
  if (/[#&](wechatpay|alipay)=/.test(location.hash)) wait();

  function pay() {
    if (channel === "wechatpay") {
      if (!window.WeixinJSBridge) { document.querySelector("[data-bridge-error]").hidden = false; return; }
      WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (res) {
        if (res && res.err_msg === "get_brand_wcpay_request:ok") wait();
      });
    } else {
      if (!window.AlipayJSBridge) { document.querySelector("[data-bridge-error]").hidden = false; return; }
      AlipayJSBridge.call("tradePay", { tradeNO: params.tradeNO }, function (res) {
        if (res && res.resultCode === "9000") wait();
      });
    }
  }
  button.addEventListener("click", pay);
})();
