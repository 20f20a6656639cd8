// Sign-in page: Vietnamese or English from the one translation table
// (/lib/i18n.js, section "login"); the form itself needs no script.
import * as i18n from '/lib/i18n.js';

i18n.bindToggle(document.getElementById('lang'));
i18n.start();
