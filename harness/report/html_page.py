"""RUN/index.html: summary.md as a static, self-contained page (no server, no network: figures are the files
beside it in figures/, the CSS and the few lines of JS that sort a table by a clicked column are inline).

`markdown_to_html` converts exactly the markdown subset `harness.report.summary` writes: `#`-headings, paragraphs,
`- ` bullets, pipe tables (first row the header), `![alt](path)` images on their own line, `**bold**`,
`*italic*` and `` `code` ``. Text is HTML-escaped first, so a solver or setting name cannot inject markup.
"""
from __future__ import annotations

import html
import re

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f0f0f0;cursor:pointer}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}h2{border-bottom:1px solid #ddd;margin-top:1.6em}
code{background:#f4f4f4;padding:0 3px}li{margin:.2em 0}"""
SORT_JS = """document.querySelectorAll('table').forEach(function(t){t.querySelectorAll('th').forEach(function(h,i){
h.title='sort';h.onclick=function(){var b=t.tBodies[0],r=Array.from(b.rows),d=h.dataset.d=h.dataset.d==='1'?'-1':'1';
var v=function(x){var s=x.cells[i].innerText,n=parseFloat(s.replace(/[^0-9eE.+-]/g,''));return isNaN(n)?s:n};
r.sort(function(a,c){var p=v(a),q=v(c);return (p>q?1:p<q?-1:0)*d});r.forEach(function(x){b.appendChild(x)})}})});"""

_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)]+)\)$")


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
    return re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<i>\1</i>", text)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_to_html(text: str, title: str = "landau-bench") -> str:
    """The page for markdown `text` (the subset of the module docstring)."""
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{html.escape(title)}</title>",
           f"<style>{STYLE}</style></head><body>"]
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
            i += 1
        elif _IMAGE.match(line.strip()):
            alt, src = _IMAGE.match(line.strip()).groups()
            out.append(f"<p><img src='{html.escape(src)}' alt='{html.escape(alt)}'></p>")
            i += 1
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            rows = [_cells(r) for r in block if not set(r.replace("|", "").strip()) <= set("-: ")]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in rows[0]) + "</tr></thead><tbody>")
            out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows[1:]]
            out.append("</tbody></table>")
        elif line.startswith("- "):
            out.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                out.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("</ul>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "|", "- ", "![")):
                para.append(lines[i])
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    out += [f"<script>{SORT_JS}</script>", "</body></html>"]
    return "\n".join(out) + "\n"
