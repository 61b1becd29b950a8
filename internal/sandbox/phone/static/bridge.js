// hutong sandbox: the payment bridges a wallet's in-app browser gives its
// pages, for pages opened in an ordinary browser. Load it from the sandbox:
//
//   <script src="http://127.0.0.1:8090/phone/static/bridge.js"></script>
//
// It defines window.WeixinJSBridge and window.AlipayJSBridge only where the
// page has none (inside the real apps it does nothing), and fires
// WeixinJSBridgeReady and AlipayJSBridgeReady as the apps do.
//
// A payment call leaves the page: the browser goes to the sandbox's confirm
// page with the call's parameters and return_url (this page's address,
// without its #fragment). The callback is never called, since the page is
// gone by then; the result comes back as the fragment of return_url:
//
//   WeixinJSBridge.invoke('getBrandWCPayRequest', {appId, timeStamp, nonceStr,
//     package: 'prepay_id=…', signType: 'RSA', paySign}, cb)
//     → #wechatpay=ok | #wechatpay=cancel | #wechatpay=fail
//   AlipayJSBridge.call('tradePay', {tradeNO: '…'}, cb)
//     → #alipay=9000 (paid) | #alipay=6001 (cancelled) | #alipay=4000 (refused)
//
// Any other call answers its callback at once with a failure.
(function () {
  "use strict";
  // The sandbox is where this script came from; data-sandbox overrides.
  var script = document.currentScript;
  var base = (script && script.getAttribute("data-sandbox")) ||
    (script && script.src ? script.src.replace(/\/phone\/static\/bridge\.js(?:[?#].*)?$/, "") : "");
  base = base.replace(/\/+$/, "");

  function returnURL() {
    return location.href.split("#")[0];
  }

  // go sends the whole window to a sandbox page, as the apps' payment
  // sheets cover the whole screen.
  function go(path, params) {
    var q = [];
    for (var k in params) {
      if (Object.prototype.hasOwnProperty.call(params, k) && params[k] != null) {
        q.push(encodeURIComponent(k) + "=" + encodeURIComponent(String(params[k])));
      }
    }
    q.push("return_url=" + encodeURIComponent(returnURL()));
    var url = base + path + "?" + q.join("&");
    try {
      window.top.location.href = url;
    } catch (e) { // a cross-origin frame may not navigate the top window
      location.href = url;
    }
  }

  function later(cb, res) {
    if (typeof cb === "function") {
      setTimeout(function () { cb(res); }, 0);
    }
  }

  function ready(name) {
    setTimeout(function () {
      var ev;
      try {
        ev = new Event(name);
      } catch (e) { // old engines
        ev = document.createEvent("Event");
        ev.initEvent(name, false, false);
      }
      document.dispatchEvent(ev);
    }, 0);
  }

  if (!window.WeixinJSBridge) {
    window.WeixinJSBridge = {
      hutongSandbox: true,
      invoke: function (name, params, cb) {
        if (name !== "getBrandWCPayRequest") {
          later(cb, { err_msg: name + ":fail the hutong sandbox bridge only supports getBrandWCPayRequest" });
          return;
        }
        params = params || {};
        go("/phone/wechatpay/jsapi", {
          appId: params.appId, timeStamp: params.timeStamp, nonceStr: params.nonceStr,
          "package": params["package"], signType: params.signType, paySign: params.paySign
        });
      },
      call: function (name, params, cb) { later(cb, { err_msg: name + ":fail not supported in the hutong sandbox" }); },
      on: function () {}
    };
    ready("WeixinJSBridgeReady");
  }

  if (!window.AlipayJSBridge) {
    window.AlipayJSBridge = {
      hutongSandbox: true,
      call: function (name, params, cb) {
        if (typeof params === "function") { // call(name, cb)
          cb = params;
          params = {};
        }
        params = params || {};
        if (name !== "tradePay") {
          later(cb, { error: 1, errorMessage: name + ": the hutong sandbox bridge only supports tradePay" });
          return;
        }
        if (!params.tradeNO) {
          later(cb, { resultCode: "4000", memo: "the hutong sandbox takes tradePay with tradeNO (from alipay.trade.create), not orderStr" });
          return;
        }
        go("/phone/alipay/jsapi", { tradeNO: params.tradeNO });
      },
      on: function () {}
    };
    ready("AlipayJSBridgeReady");
  }
})();
