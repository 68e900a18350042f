"""Content pieces: the PubMed link of a content, and the link to its detail page."""
from __future__ import annotations

from urllib.parse import quote

from dash import dcc, html


def pubmed_url(pmid) -> str | None:
    """PubMed link for a numeric PMID; anything else gets no link (nothing is fetched: a link only)."""
    pmid = str(pmid or "").strip()
    return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid.isdigit() else None


def pubmed_link(pmid, text: str = "Read on PubMed ↗", **kwargs) -> html.A | None:
    """An external link to the PubMed record (new tab, no referrer or opener); None without a PMID."""
    url = pubmed_url(pmid)
    return html.A(text, href=url, target="_blank", rel="noopener noreferrer", **kwargs) if url else None


def content_href(content_id: str) -> str:
    return "/content/" + quote(str(content_id), safe="")


def content_link(content_id: str, title: str | None, **kwargs) -> dcc.Link:
    """The content's title (plain text) linking to its detail page."""
    return dcc.Link(title or str(content_id), href=content_href(content_id), **kwargs)
