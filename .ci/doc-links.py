#!/usr/bin/env python3
"""Lists the relative links in the repository's Markdown files whose file or #anchor does not exist, and the files their shell
examples write in the checkout that git would not ignore; exit code 1 if any.

Anchors are GitHub's: the heading in lower case, punctuation other than '-' and '_' dropped, spaces as '-', '-1', '-2', ...
for repeats. Links to other sites are not followed (CI has no network). A file an example writes is one named after `>`,
`>>` or `tee`, or as `$PWD/...`, in a ```bash block (comments left out): a reader who pastes the examples in order must not
be left with a file `git status` offers to commit."""
import os
import re
import subprocess
import sys

root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
files = subprocess.run(["git", "ls-files", "*.md"], cwd=root, capture_output=True, text=True, check=True).stdout.split()


def lines_outside_fences(path):
    fenced = False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif not fenced:
                yield number, line


def anchors(path, cache={}):
    if path not in cache:
        found, seen = set(), {}
        for _, line in lines_outside_fences(path):
            heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if heading:
                text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1)).replace("`", "")
                slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
                count = seen.get(slug, 0)
                seen[slug] = count + 1
                found.add(slug if count == 0 else f"{slug}-{count}")
            found.update(re.findall(r'<a (?:name|id)="([^"]+)"', line))
        cache[path] = found
    return cache[path]


broken = 0
for name in files:
    source = os.path.join(root, name)
    for number, line in lines_outside_fences(source):
        for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", re.sub(r"`[^`]*`", "", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue
            path, _, fragment = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(source), path)) if path else source
            if not os.path.exists(resolved):
                print(f"{name}:{number}: no file {target}")
                broken += 1
            elif fragment and resolved.endswith(".md") and fragment not in anchors(resolved):
                print(f"{name}:{number}: no heading #{fragment} in {os.path.relpath(resolved, root)}")
                broken += 1

print(f"{broken} broken link(s) in {len(files)} Markdown files" if broken else f"every relative link resolves ({len(files)} Markdown files)")


def shell_lines(path):
    language = None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.lstrip().startswith("```"):
                language = line.lstrip()[3:].strip() if language is None else None
            elif language in ("bash", "sh", "shell"):
                yield number, re.sub(r"(^|\s)#.*", "", line)


written = re.compile(r'(?:(?<![0-9&])>>?\s*|\btee\s+(?:-a\s+)?|\$PWD/)([\w.][\w./-]*)')
unignored = 0
for name in files:
    for number, line in shell_lines(os.path.join(root, name)):
        for path in written.findall(line):
            tracked = subprocess.run(["git", "ls-files", "--error-unmatch", path], cwd=root, capture_output=True).returncode == 0
            if not tracked and subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=root).returncode != 0:
                print(f"{name}:{number}: writes {path} in the checkout, which .gitignore does not cover")
                unignored += 1

print(f"{unignored} file(s) written by the examples not ignored" if unignored else "every file the examples write in the checkout is ignored")
sys.exit(1 if broken or unignored else 0)
