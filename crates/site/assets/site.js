// Emporium's own script: small enhancements only; every page works without it.
(function () {
  "use strict";

  // Stripe Payment Element on the payment page.
  function mountStripe() {
    var box = document.getElementById("payment-element");
    if (!box || typeof window.Stripe !== "function") return;
    var stripe = window.Stripe(box.dataset.key);
    var elements = stripe.elements({ clientSecret: box.dataset.secret });
    elements.create("payment").mount(box);
    var form = document.getElementById("stripe-form");
    var message = document.getElementById("stripe-message");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      form.querySelector("button").disabled = true;
      stripe
        .confirmPayment({ elements: elements, confirmParams: { return_url: box.dataset.returnUrl } })
        .then(function (result) {
          if (result.error) {
            message.textContent = result.error.message || "The payment did not go through.";
            form.querySelector("button").disabled = false;
          }
        });
    });
  }

  // "Use my location" on the store locator.
  function locate() {
    var button = document.getElementById("use-location");
    if (!button || !navigator.geolocation) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (p) {
        document.getElementById("lat").value = p.coords.latitude.toFixed(4);
        document.getElementById("lng").value = p.coords.longitude.toFixed(4);
        button.form.submit();
      });
    });
  }

  // Escape closes the search suggestions.
  function suggestions() {
    var q = document.getElementById("q");
    var list = document.getElementById("suggestions");
    if (!q || !list) return;
    q.addEventListener("keydown", function (event) {
      if (event.key === "Escape") list.innerHTML = "";
    });
  }

  function start() {
    mountStripe();
    locate();
    suggestions();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
