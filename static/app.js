// Wide tables reflow to cards on a phone (issue 25): each cell is labelled with its column's header, which the
// stylesheet shows beside the value under 700px. The everyday pages' templates label their tables themselves
// (class "reflow", data-label on each cell), so they reflow without JavaScript; this labels the other pages'
// wide tables. Tables of three columns or fewer stay tables.
document.addEventListener('DOMContentLoaded', () => {
  for (const table of document.querySelectorAll('main table:not(.reflow)')) {
    const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent.trim());
    if (heads.length < 4) continue;
    for (const row of table.querySelectorAll('tbody tr')) {
      [...row.children].forEach((cell, i) => {
        if (heads[i]) cell.setAttribute('data-label', heads[i]);
      });
    }
    table.classList.add('reflow');
  }
});

// The bell counts new notifications without a reload (issue 19): every 10 seconds while the page is visible,
// and when it becomes visible again, the page asks for the unread count. Its requests say they are background
// polls, so an open tab does not keep an idle session alive; a signed-out session simply stops the updates.
(() => {
  const bell = document.querySelector('a.bell');
  if (!bell) return;
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const res = await fetch('/notifications/unread', {
        headers: { accept: 'application/json', 'x-background-poll': '1' },
        credentials: 'same-origin',
        redirect: 'manual',
      });
      if (!res.ok) return;
      const { unread } = await res.json();
      let badge = bell.querySelector('.badge');
      if (unread > 0) {
        if (!badge) {
          badge = document.createElement('span');
          badge.className = 'badge';
          bell.appendChild(badge);
        }
        badge.textContent = String(unread);
      } else if (badge) {
        badge.remove();
      }
      bell.setAttribute('aria-label', `Notifications: ${unread} unread`);
    } catch (_) {
      // Offline for a moment: the next tick tries again.
    }
  };
  setInterval(refresh, 10000);
  document.addEventListener('visibilitychange', refresh);
})();
