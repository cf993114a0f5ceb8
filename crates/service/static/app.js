// bugimporters' one script, served by the binary (/static/app.js). Every page works without
// it; it only adds conveniences.
"use strict";

// /customs/: choosing a tracker type shows that type's trackers and form (the select's form
// also has a button, for browsers without this script).
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
});
