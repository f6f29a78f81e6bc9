// The dashboard's live updates: the server sends each section that changed, already rendered in this page's
// language, over server-sent events; this puts it in place. Without JavaScript the page still shows the picture
// as of its loading.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) {
    return;
  }
  var lang = document.documentElement.lang || "en";
  var source = new EventSource("/dashboard/events?lang=" + encodeURIComponent(lang));

  function say(template, time) {
    live.textContent = template.replace("{time}", time);
  }

  source.addEventListener("snapshot", function (event) {
    var data = JSON.parse(event.data);
    Object.keys(data.sections).forEach(function (id) {
      var section = document.getElementById(id);
      if (section && !section.contains(document.activeElement)) {
        section.innerHTML = data.sections[id];
      } else if (section) {
        // Never move the keyboard's place: a section holding the focus is replaced once the focus leaves it.
        section.addEventListener("focusout", function replace() {
          section.removeEventListener("focusout", replace);
          section.innerHTML = data.sections[id];
        });
      }
    });
    document.body.dataset.version = data.version;
    // The server's time of the picture, already in the district's zone (never the browser's clock or zone).
    live.dataset.time = data.time;
    say(live.dataset.on, data.time);
  });

  source.addEventListener("error", function () {
    // As of the last picture shown: the one the page came with (data-time) or the last one sent.
    say(live.dataset.off, live.dataset.time || "");
  });
})();
