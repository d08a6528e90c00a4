/* Progressive enhancement only: every page works without this file. */
(function () {
  "use strict";

  // Conditional fields (show_if): hide them while their condition does not hold.
  function currentValues(form, name) {
    var out = [];
    form.querySelectorAll('[name="' + name + '"]').forEach(function (el) {
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      out.push(el.type === "checkbox" && el.value === "true" ? "true" : el.value);
    });
    return out;
  }
  function applyConditions(form) {
    form.querySelectorAll("[data-show-if]").forEach(function (wrap) {
      var wanted = wrap.getAttribute("data-show-values").split("|");
      var values = currentValues(form, wrap.getAttribute("data-show-if"));
      var show = values.some(function (v) { return wanted.indexOf(v) !== -1; });
      // `also` conditions (data-show-also: [[name, [values]], ...]) must hold too.
      var also = wrap.getAttribute("data-show-also");
      if (show && also) {
        JSON.parse(also).forEach(function (pair) {
          var got = currentValues(form, pair[0]);
          if (!got.some(function (v) { return pair[1].indexOf(v) !== -1; })) show = false;
        });
      }
      wrap.hidden = !show;
      wrap.querySelectorAll(".conditional-hint").forEach(function (h) { h.hidden = true; });
    });
  }
  function initConditions(root) {
    root.querySelectorAll("form.dossier-form").forEach(function (form) {
      applyConditions(form);
      if (!form.dataset.conditionsBound) {
        form.addEventListener("change", function () { applyConditions(form); });
        form.dataset.conditionsBound = "1";
      }
    });
    // With JavaScript on, ward lists load by themselves: hide the no-JS refresh buttons.
    root.querySelectorAll(".no-js-only").forEach(function (el) { el.hidden = true; });
  }

  // Upload progress bar.
  document.addEventListener("htmx:xhr:progress", function (evt) {
    var form = evt.target.closest ? evt.target.closest("form.upload") : null;
    if (!form) return;
    var bar = form.querySelector(".upload-progress");
    if (!bar || !evt.detail.lengthComputable) return;
    bar.hidden = false;
    bar.value = Math.round((evt.detail.loaded / evt.detail.total) * 100);
  });

  // Let error pages (4xx) replace the target so the citizen sees the message.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var status = evt.detail.xhr.status;
    if (status >= 400 && status < 500) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });

  // A submit form is sent once: a double click does not send it twice.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!form.hasAttribute("data-once")) return;
    if (form.dataset.sent) { evt.preventDefault(); return; }
    form.dataset.sent = "1";
  });

  // Acting-as switch: a choice made with the mouse or a finger submits at once. Keyboard users confirm
  // with the button, since arrow keys change a closed select and the page must not reload under them.
  function autosubmitForm(el) {
    return el && el.closest ? el.closest("form[data-autosubmit]") : null;
  }
  document.addEventListener("pointerdown", function (evt) {
    var form = autosubmitForm(evt.target);
    if (form) form.dataset.pointer = "1";
  });
  document.addEventListener("keydown", function (evt) {
    var form = autosubmitForm(evt.target);
    if (form) delete form.dataset.pointer;
  });
  document.addEventListener("change", function (evt) {
    var form = autosubmitForm(evt.target);
    if (!form || !form.dataset.pointer) return;
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  });

  document.addEventListener("DOMContentLoaded", function () { initConditions(document); });
  document.addEventListener("htmx:afterSettle", function (evt) { initConditions(evt.target.ownerDocument || document); });
})();
