// arc-eval dashboard: draws the Plotly charts, opens the runs behind a clicked point, makes table rows
// clickable, and shows refusals of review actions in place.
(function () {
  function draw(root) {
    root.querySelectorAll("div.chart[data-figure]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var fig = JSON.parse(el.dataset.figure);
      el.dataset.drawn = "1";
      Plotly.newPlot(el, fig.data, fig.layout, { responsive: true, displaylogo: false });
      el.on("plotly_click", function (ev) {
        var url = ev.points && ev.points[0] && ev.points[0].customdata;
        if (url) window.location.href = url;
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
    document.querySelectorAll("tr[data-href]").forEach(function (tr) {
      tr.addEventListener("click", function (ev) {
        if (ev.target.closest("a")) return;
        window.location.href = tr.dataset.href;
      });
    });
    document.body.addEventListener("htmx:responseError", function (ev) {
      var card = ev.detail.elt.closest("article.rec");
      var doc = new DOMParser().parseFromString(ev.detail.xhr.responseText, "text/html");
      var msg = doc.querySelector(".message");
      if (!card) return;
      var box = card.querySelector(".message") || card.appendChild(document.createElement("p"));
      box.className = "message warn";
      box.textContent = (msg ? msg.textContent : "refused") + " (" + ev.detail.xhr.status + ")";
    });
  });
})();
