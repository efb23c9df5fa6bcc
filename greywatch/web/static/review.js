// Review queue keyboard shortcuts: j/k move, c confirm, d dismiss, n note, Enter open.
// Plain forms and buttons work without this file; it only drives them from the keyboard.
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("#review-queue tbody tr[data-lead]"));
  if (!rows.length) { return; }
  var storeKey = "greywatch.review." + location.pathname + location.search;
  var index = 0;
  try {
    var saved = parseInt(sessionStorage.getItem(storeKey) || "0", 10);
    if (!isNaN(saved)) { index = Math.min(Math.max(saved, 0), rows.length - 1); }
  } catch (e) { /* storage disabled: start at the top */ }

  function select(i) {
    index = Math.min(Math.max(i, 0), rows.length - 1);
    rows.forEach(function (row, n) {
      row.classList.toggle("selected", n === index);
      if (n === index) { row.setAttribute("aria-selected", "true"); } else { row.removeAttribute("aria-selected"); }
    });
    rows[index].scrollIntoView({ block: "nearest" });
    try { sessionStorage.setItem(storeKey, String(index)); } catch (e) { /* ignore */ }
  }

  function press(key) {
    var button = rows[index].querySelector('button[data-key="' + key + '"]');
    if (!button) { return; }
    var form = button.form;
    if (form.requestSubmit) { form.requestSubmit(button); } else { button.click(); }
  }

  rows.forEach(function (row, n) {
    row.addEventListener("click", function () { select(n); });
  });

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
    if (typing) {
      if (event.key === "Escape") { target.blur(); event.preventDefault(); }
      if (event.key === "Enter" && target.name === "note") { target.blur(); event.preventDefault(); }
      return;
    }
    switch (event.key) {
      case "j": select(index + 1); break;
      case "k": select(index - 1); break;
      case "c": press("c"); break;
      case "d": press("d"); break;
      case "n": {
        var note = rows[index].querySelector('input[name="note"]');
        if (note) { note.focus(); note.select(); }
        break;
      }
      case "Enter": location.href = rows[index].getAttribute("data-href"); break;
      default: return;
    }
    event.preventDefault();
  });

  select(index);
})();
