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
