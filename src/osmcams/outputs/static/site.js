// The osmcams site: a sortable ranking and a search box; the pages read well without it.
(function () {
  "use strict";
  var table = document.getElementById("ranking");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  // As osmcams.communes.names.bare: no accents, ligatures, punctuation, leading article.
  function bare(text) {
    var s = text.replace(/[œŒ]/g, "oe").replace(/[æÆ]/g, "ae").normalize("NFKD")
      .replace(/\p{M}/gu, "").toLowerCase().replace(/[\s\-'’`.]+/g, " ").trim();
    s = s.replace(/^(st|ste)\b/, function (m) { return m === "st" ? "saint" : "sainte"; });
    return s.replace(/^(le|la|les|l) /, "");
  }
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  search.disabled = false;
  search.addEventListener("input", function () {
    var query = bare(search.value), code = search.value.trim().toUpperCase(), n = 0;
    rows.forEach(function (row) {
      var hit = !query || row.dataset.key.indexOf(query) >= 0 ||
        (code && row.dataset.code.indexOf(code) === 0);
      row.hidden = !hit;
      n += hit;
    });
    shown.textContent = query ? n + " of " + rows.length : "";
  });
  function value(row, column) {
    var cell = row.cells[Math.min(column, row.cells.length - 1)];
    return column < row.cells.length ? cell.getAttribute("data-v") : "";
  }
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, column) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    th.textContent = "";
    th.appendChild(button);
    button.addEventListener("click", function () {
      var down = th.getAttribute("aria-sort") !== "descending";
      heads.forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", down ? "descending" : "ascending");
      rows.sort(function (a, b) {
        var x = value(a, column), y = value(b, column);
        if (x === "" || y === "") { return (x === "") - (y === ""); }  // no data: last
        var nx = Number(x), ny = Number(y), order;
        order = isNaN(nx) || isNaN(ny) ? x.localeCompare(y, "fr") : nx - ny;
        return down ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
}());
