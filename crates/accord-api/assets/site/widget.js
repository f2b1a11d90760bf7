// Placeholder of the widget bundle (site-interface.md): it registers itself and draws
// nothing. The widget branch replaces this file wholesale.
(function (w) {
  'use strict';
  var c = w.concord;
  if (!c) return;
  c.widget = {showBanner: function () {}, showPrivacyCenter: function () {}, update: function () {}};
})(window);
