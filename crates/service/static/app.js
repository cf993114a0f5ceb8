// bugimporters' one script, served by the binary (/static/app.js). Every page works without
// it; it only adds conveniences.
"use strict";
