// The job history's filters, sort and page as the user set them, and the rows selected.
export const state = {
  search: "", kind: "", status: "", requestedBy: "", since: "", until: "",
  sort: "submitted", ascending: false, pageSize: 25,
  // Where the page starts: "first", "after:C", "before:C", "page:N", "date:D". Refreshes keep it.
  at: "first",
};

/** Jobs selected for a bulk action, by id. */
export const selected = new Set();

/** The `history_page` query for the filters as they are now. */
export function query() {
  return {
    search: state.search.trim() || null,
    kind: state.kind || null,
    status: state.status || null,
    requestedBy: state.requestedBy.trim() || null,
    since: state.since || null,
    until: state.until || null,
    sort: state.sort,
    ascending: state.ascending,
    pageSize: state.pageSize,
    at: state.at,
  };
}
