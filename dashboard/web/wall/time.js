// Time on the wall: the wall PC's clock may be wrong, so frames carry the
// server's time and the wall shows that (Vietnam's time zone).
import { lang, t } from '../lib/i18n.js';

export const TZ = 'Asia/Ho_Chi_Minh';
let offset = 0;
export const now = () => Date.now() + offset;
export function serverMs(ms) { offset = ms - Date.now(); }
export const offsetMs = () => offset;

const fmt = new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const fmtHM = new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const longDates = {
  vi: new Intl.DateTimeFormat('vi-VN', { timeZone: TZ, weekday: 'long', day: '2-digit', month: '2-digit', year: 'numeric' }),
  en: new Intl.DateTimeFormat('en-GB', { timeZone: TZ, weekday: 'long', day: '2-digit', month: 'long', year: 'numeric' }),
};

export const hms = (ms) => (ms > 0 ? fmt.format(ms) : '—');
export const hm = (ms) => fmtHM.format(ms);
export const longDate = (ms) => longDates[lang()].format(ms);

export function ago(ms) {
  if (!(ms > 0)) return '—';
  const s = Math.max(0, Math.round((now() - ms) / 1000));
  if (s < 90) return t('wall.ago.s', { n: s });
  if (s < 5400) return t('wall.ago.min', { n: Math.round(s / 60) });
  return hms(ms);
}
