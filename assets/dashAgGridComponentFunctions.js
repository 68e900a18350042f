/* Cell renderers of the AG Grids (dash-ag-grid looks them up by name). Text children only: React
   escapes them, so names from the data never become HTML. */
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

/* The HCP lookup on a phone: one card per HCP (components/tables.py HCP_CARD_COLUMNS). */
dagcomponentfuncs.HcpCard = function (props) {
    const d = props.data;
    if (!d) { return null; }
    const place = [d.city, d.state].filter(Boolean).join(", ");
    const e = React.createElement;
    return e("div", {className: "hcp-card-cell"}, [
        e("div", {key: "name", className: "hcp-card-name"}, d.name || d.hcp_id),
        e("div", {key: "where", className: "hcp-card-line"}, [d.specialty, place].filter(Boolean).join(" · ")),
        e("div", {key: "npi", className: "hcp-card-line"}, ["NPI " + d.hcp_id, d.segment].filter(Boolean).join(" · ")),
    ]);
};
