// The run dashboard's charts (admin/tasks_app/taskrun/run_dashboard.html), drawn
// with the Chart.js this site serves (vendor/chart.umd.min.js). The figures are
// also in the page as text, so nothing is lost if a chart can't be drawn.
"use strict";

(function () {
  function start() {
    var source = document.getElementById("run-dashboard-data");
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var style = getComputedStyle(document.body);
    // The admin's own colours, light or dark theme.
    window.Chart.defaults.color = style.getPropertyValue("--body-quiet-color").trim() || "#666";
    window.Chart.defaults.borderColor = style.getPropertyValue("--hairline-color").trim() || "#ddd";
    window.Chart.defaults.font.size = 12;

    drawProgress(data.progress);
    drawTimeline(data.timeline);
    drawMoney(data.money);
    var agreement = document.getElementById("run-agreement-data");
    if (agreement) {
      drawAgreement(JSON.parse(agreement.textContent));
    }
  }

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) {
      return;
    }
    config.options = Object.assign(
      { responsive: true, maintainAspectRatio: false, animation: false },
      config.options
    );
    new window.Chart(canvas, config);
    // Read by the browser test: the chart library ran and drew this one.
    canvas.setAttribute("data-drawn", "true");
  }

  function count(n) {
    return Number(n).toLocaleString("en-US");
  }

  function dollars(n) {
    return "$" + Number(n).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  // One horizontal bar, a segment per status.
  function drawProgress(statuses) {
    var total = statuses.reduce(function (sum, s) { return sum + s.count; }, 0);
    draw("rd-progress-chart", {
      type: "bar",
      data: {
        labels: ["units"],
        datasets: statuses.map(function (s) {
          return { label: s.label, data: [s.count], backgroundColor: s.colour, borderWidth: 0 };
        }),
      },
      options: {
        indexAxis: "y",
        scales: {
          x: { stacked: true, max: total, title: { display: true, text: "units" }, ticks: { precision: 0 } },
          y: { stacked: true, display: false },
        },
        plugins: {
          // The table under the bar is its legend, with the counts.
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (item) {
                var share = total ? (100 * item.parsed.x / total).toFixed(1) : "0";
                return item.dataset.label + ": " + count(item.parsed.x) + " (" + share + "%)";
              },
            },
          },
        },
      },
    });
  }

  // Submissions per bucket, late ones stacked on top in red.
  function drawTimeline(timeline) {
    draw("rd-timeline-chart", {
      type: "bar",
      data: {
        labels: timeline.labels,
        datasets: [
          { label: "on time", data: timeline.on_time, backgroundColor: "#1e88e5" },
          { label: "late", data: timeline.late, backgroundColor: "#e53935" },
        ],
      },
      options: {
        scales: {
          x: { stacked: true, title: { display: true, text: "time (UTC), one bar " + timeline.per } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "submissions" } },
        },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      },
    });
  }

  // Paid, pending and committed dollars, and the budget when there is one.
  function drawMoney(money) {
    var labels = ["paid", "pending", "committed"];
    var values = [money.spent, money.pending, money.committed];
    var colours = ["#43a047", "#fdd835", "#1e88e5"];
    if (money.budget !== null) {
      labels.push("budget");
      values.push(money.budget);
      colours.push(money.committed > money.budget ? "#e53935" : "#9e9e9e");
    }
    draw("rd-money-chart", {
      type: "bar",
      data: { labels: labels, datasets: [{ label: "USD", data: values, backgroundColor: colours }] },
      options: {
        indexAxis: "y",
        scales: {
          x: { beginAtZero: true, title: { display: true, text: "dollars" }, ticks: { callback: function (v) { return dollars(v); } } },
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (item) { return dollars(item.parsed.x); } } },
        },
      },
    });
  }

  function percent(fraction) {
    return (100 * fraction).toFixed(1) + "%";
  }

  // Each worker's agreement with the aggregate label, a bar each, in the
  // table's order (lowest first); workers who shared no row have no bar.
  function drawAgreement(figures) {
    var workers = figures.workers.filter(function (w) { return w.agreement !== null; });
    draw("rd-agreement-chart", {
      type: "bar",
      data: {
        labels: workers.map(function (w) { return w.worker; }),
        datasets: [
          {
            label: "agreement",
            data: workers.map(function (w) { return 100 * w.agreement; }),
            backgroundColor: "#1e88e5",
          },
        ],
      },
      options: {
        scales: {
          x: { title: { display: true, text: "worker" }, ticks: { autoSkip: true } },
          y: {
            beginAtZero: true,
            max: 100,
            title: { display: true, text: "agreement with the aggregate (%)" },
          },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (item) {
                var w = workers[item.dataIndex];
                var text = percent(w.agreement) + " on " + count(w.units) + " unit" + (w.units === 1 ? "" : "s");
                if (w.gold_accuracy !== undefined) {
                  text += "; golds " + percent(w.gold_accuracy);
                }
                return text;
              },
            },
          },
        },
      },
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
