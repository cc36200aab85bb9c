#!/usr/bin/env python3
"""Links in README.md and docs/*.md: every relative link reaches a file of the repository, and every
`#anchor` (in the same page or another) is a heading there, slugged as GitHub slugs headings. Web links
are not fetched. Prints the broken ones and exits 1 on any."""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def slug(heading):
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*|_(?=\W)|(?<=\W)_", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    in_code = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code:
            continue
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            out.add(base if n == 0 else f"{base}-{n}")
            seen[base] = n + 1
    return out


def problems(pages):
    out = []
    for page in pages:
        in_code = False
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith("```"):
                in_code = not in_code
            if in_code:
                continue
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):
                    continue  # https:, mailto:
                path, _, anchor = target.partition("#")
                where = (page.parent / path).resolve() if path else page
                if not where.exists():
                    out.append(f"{page.relative_to(ROOT)}:{number}: {target}: no such file")
                elif anchor and where.suffix == ".md" and anchor not in anchors(where):
                    out.append(f"{page.relative_to(ROOT)}:{number}: {target}: no heading #{anchor}")
    return out


def main():
    assert slug("Who may do what: `CHATOPS_POLICY` and approvals") == "who-may-do-what-chatops_policy-and-approvals"
    assert slug("Deploy by @mention (GitLab / GitHub Actions)") == "deploy-by-mention-gitlab--github-actions"
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = problems(pages)
    if found:
        print("broken links:")
        for f in found:
            print(f"  {f}")
        sys.exit(1)
    print(f"links: {len(pages)} pages, every relative link and anchor resolves")


if __name__ == "__main__":
    main()
