"""The docs hold together: every relative link in README.md, docs/**/*.md and deploy/k8s/README.md points at a file
that exists (and a `#anchor` at a heading of that file, by GitHub's rules), and every `modelpilot ...` line of their
```bash blocks parses against the real command tree: an unknown command or option, or a missing required argument,
fails with the file and line of the example. Nothing is run: each line is resolved to its leaf command and parsed
with `make_context`, which is what the CLI does before it invokes anything."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import typer

from modelpilot.cli.app import app

ROOT = Path(__file__).parents[2]
# Files other people are writing right now: a link to one of them passes while it does not exist yet, and is
# checked like any other as soon as it does (an entry whose file exists changes nothing; take it out then).
BEING_WRITTEN: set[str] = set()  # docs another change is writing (their links pass until they exist)
SHELL_BLOCKS = {"bash", "sh", "shell"}
PLACEHOLDER = "1"  # what a shell variable or $(...) stands for: a number fits int, float, str and path parameters
FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)")


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "deploy" / "k8s" / "README.md"]
    return [f for f in files if f.is_file()]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


DOCS = doc_files()


# --- Markdown: code blocks, headings, anchors, links ----------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    lang: str
    first_line: int  # line number (1-based) of the block's first content line
    lines: list[str]


def split_markdown(text: str) -> tuple[list[str], list[Block]]:
    """The prose lines (code-block lines blanked, so line numbers stay) and the fenced code blocks."""
    prose: list[str] = []
    blocks: list[Block] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match[1]
            blocks.append(Block(lang=match[2].lower(), first_line=number + 1, lines=[]))
            prose.append("")
        elif fence is not None and line.strip().startswith(fence) and not line.strip().strip(fence[0]):
            fence = None
            prose.append("")
        elif fence is not None:
            blocks[-1].lines.append(line)
            prose.append("")
        else:
            prose.append(line)
    return prose, blocks


def without_code_spans(text: str) -> str:
    """Inline code replaced by a neutral word (keeping its line breaks), so `[x](y)` inside code is no link."""
    return re.sub(r"(`+)(?:(?!\1).)+?\1", lambda m: "code" + "\n" * m[0].count("\n"), text, flags=re.S)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its rendered text, lower-cased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    prose, _ = split_markdown(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose:
        match = re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = github_slug(match[1])
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
        found.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", line))
    return found


LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[(?!\^)[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every inline link, image and reference definition outside code."""
    prose, _ = split_markdown(path.read_text(encoding="utf-8"))
    text = without_code_spans("\n".join(prose))
    found = [(text.count("\n", 0, m.start()) + 1, m[1]) for m in LINK.finditer(text)]
    found += [(text.count("\n", 0, m.start()) + 1, m[1]) for m in REFERENCE.finditer(text)]
    return sorted(found)


def link_problem(doc: Path, target: str) -> str | None:
    """Why a link of `doc` does not resolve, or None when it does (external links are not followed)."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
        return None
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    if not path_part:
        dest = doc
    elif path_part.startswith("/"):
        dest = ROOT / path_part.lstrip("/")
    else:
        dest = (doc.parent / path_part).resolve()
    if not dest.exists():
        try:
            name = dest.relative_to(ROOT).as_posix()
        except ValueError:
            return f"{target}: points outside the repository"
        if name in BEING_WRITTEN:
            return None
        return f"{target}: no such file or folder ({name})"
    if anchor:
        if dest.is_dir() or dest.suffix.lower() != ".md":
            return f"{target}: an anchor into something that is not a Markdown file"
        if unquote(anchor).lower() not in anchors(dest):
            return f"{target}: no heading with the anchor #{anchor} in {rel(dest)}"
    return None


# --- CLI examples ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    line: int
    text: str  # the logical line as written (continuations joined)
    argv: list[str]  # the arguments after `modelpilot`
    error: str = ""  # set when the line cannot even be split into words


def substitute(text: str) -> str:
    """Shell expansions replaced: `${V:-default}` by its default, `$V`, `${V}`, `$(...)` and backticks by a value."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$(", i):  # command substitution, nested parentheses included
            depth, j = 0, i + 1
            while j < len(text):
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            out.append(PLACEHOLDER)
            i = j + 1
        elif text.startswith("${", i):
            end = text.find("}", i)
            end = len(text) - 1 if end < 0 else end
            body = text[i + 2 : end]
            match = re.match(r"^\w+:?[-=](.*)$", body, flags=re.S)
            out.append(substitute(match[1]) if match else PLACEHOLDER)
            i = end + 1
        elif text[i] == "$" and i + 1 < len(text) and re.match(r"[\w?#@*!]", text[i + 1]):
            match = re.match(r"\w+|[?#@*!]", text[i + 1 :])
            assert match is not None
            out.append(PLACEHOLDER)
            i += 1 + match.end()
        elif text[i] == "`":
            end = text.find("`", i + 1)
            out.append(PLACEHOLDER)
            i = len(text) if end < 0 else end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def command_words(text: str) -> list[str]:
    """The words of one shell command line up to its end: a comment, `&`, `|`, `>`, `<`, `;`, `&&`, `||`."""
    text = re.sub(r"(?<=\s)\d+(?=[<>])", " ", substitute(text))  # file descriptors of redirections (2>, 1>&2)
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words: list[str] = []
    for token in lexer:
        if token and all(c in "();<>|&" for c in token):
            break
        words.append(token)
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):  # VAR=value modelpilot ...
        words.pop(0)
    return words


def logical_lines(block: Block) -> list[tuple[int, str]]:
    """(line number, text) of each command of a shell block: `\\` continuations joined, here-documents skipped."""
    result: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    heredoc: str | None = None
    for offset, raw in enumerate(block.lines):
        number = block.first_line + offset
        if heredoc is not None:
            if raw.strip() == heredoc:
                heredoc = None
            continue
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending.append(raw.rstrip()[:-1])
            continue
        pending.append(raw)
        line = " ".join(part.strip() for part in pending)
        pending = []
        result.append((start, line))
        match = re.search(r"<<-?\s*(['\"]?)(\w+)\1", line)
        if match:
            heredoc = match[2]
    if pending:
        result.append((start, " ".join(part.strip() for part in pending)))
    return result


def examples(path: Path) -> list[Example]:
    _, blocks = split_markdown(path.read_text(encoding="utf-8"))
    found: list[Example] = []
    for block in blocks:
        if block.lang not in SHELL_BLOCKS:
            continue
        for number, line in logical_lines(block):
            stripped = line.strip()
            if not re.match(r"^([A-Za-z_]\w*=\S*\s+)*modelpilot\s", stripped + " "):
                continue
            try:
                words = command_words(stripped)
            except ValueError as exc:  # an unclosed quote, a stray backslash
                found.append(Example(line=number, text=stripped, argv=[], error=f"not a shell command line: {exc}"))
                continue
            if words and words[0] == "modelpilot":
                found.append(Example(line=number, text=stripped, argv=words[1:]))
    return found


def cli_problem(argv: list[str]) -> str | None:
    """Why `modelpilot ARGV` would not get past parsing, or None: resolve the leaf command, parse, do not invoke."""
    command: Any = typer.main.get_command(app)
    try:
        ctx = command.make_context("modelpilot", list(argv), resilient_parsing=False)
        while getattr(command, "commands", None) is not None:
            rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
            if not rest:
                return f"'{ctx.command_path}' needs a command (one of: {', '.join(sorted(command.commands))})"
            name, sub, rest = command.resolve_command(ctx, rest)
            if sub is None:
                return f"no command {rest[:1]} under '{ctx.command_path}'"
            ctx = sub.make_context(name, rest, parent=ctx, resilient_parsing=False)
            command = sub
    except typer.Exit:  # --help, --version: fine as an example
        return None
    except Exception as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        message = message or "nothing to do: it only prints the help"
        return f"{type(exc).__name__}: {message}"
    return None


# --- the tests ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", DOCS, ids=rel)
def test_relative_links_resolve(doc: Path) -> None:
    problems = [f"{rel(doc)}:{line}: {why}" for line, target in links(doc) if (why := link_problem(doc, target))]
    assert not problems, "broken links:\n" + "\n".join(problems)


@pytest.mark.parametrize("doc", DOCS, ids=rel)
def test_cli_examples_parse(doc: Path) -> None:
    problems = [
        f"{rel(doc)}:{ex.line}: {ex.text}\n    -> {why}"
        for ex in examples(doc)
        if (why := ex.error or cli_problem(ex.argv))
    ]
    assert not problems, "CLI examples the modelpilot command refuses:\n" + "\n".join(problems)


def test_the_docs_are_found_and_hold_examples() -> None:
    names = {rel(d) for d in DOCS}
    assert {"README.md", "docs/cli.md", "docs/concepts.md", "docs/compared.md", "deploy/k8s/README.md"} <= names
    assert sum(len(examples(d)) for d in DOCS) >= 50
    assert sum(len(links(d)) for d in DOCS) >= 50
    readme = {ex.argv[0] for ex in examples(ROOT / "README.md") if ex.argv and not ex.argv[0].startswith("-")}
    assert {"up", "drift", "rollout", "register", "traffic"} <= readme


# --- the checkers catch what they are for ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('modelpilot rollout start credit --version 2 --reason "v2"   # 5, 25, 50%', None),
        ("modelpilot up --policy examples/remediation/policy.yaml &    # act", None),
        ("modelpilot serve --port ${PORT1:-8001} &", None),
        ("modelpilot register credit m.skops --lineage code_revision=$(git rev-parse --short HEAD)", None),
        ("modelpilot promote credit $V 2>/dev/null | tee out.txt", None),
        ("MODELPILOT_HOME=/tmp/x modelpilot models -o json > models.json", None),
        ("modelpilot --version", None),
        ("modelpilot rollout start credit --reason x", "--version"),
        ("modelpilot rollout launch credit", "launch"),
        ("modelpilot drift credit --no-such-option", "--no-such-option"),
        ("modelpilot alias set credit production", "version"),
        ("modelpilot traffic set credit --weight five --stable 1", "--weight"),
        ("modelpilot slo", "needs a command"),
    ],
)
def test_the_cli_checker(line: str, expected: str | None) -> None:
    block = Block(lang="bash", first_line=1, lines=[line])
    (example,) = [
        Example(line=n, text=t, argv=command_words(t)[1:]) for n, t in logical_lines(block) if "modelpilot" in t
    ]
    problem = cli_problem(example.argv)
    if expected is None:
        assert problem is None, problem
    else:
        assert problem is not None and expected in problem, problem


def test_continuations_comments_and_heredocs() -> None:
    text = (
        "```bash\n"
        "cat > x.py <<'EOF'\n"
        "modelpilot this-is-python-not-a-command\n"
        "EOF\n"
        "modelpilot register credit model.skops --format skops \\\n"
        '    --reference ref.csv --reason "a # in quotes" \\\n'
        "    --target default   # a comment --bogus\n"
        "```\n"
    )
    prose, blocks = split_markdown(text)
    assert prose == [""] * 8 and len(blocks) == 1
    found = [(n, command_words(t)) for n, t in logical_lines(blocks[0]) if t.startswith("modelpilot")]
    assert found == [
        (
            5,
            [
                "modelpilot",
                "register",
                "credit",
                "model.skops",
                "--format",
                "skops",
                "--reference",
                "ref.csv",
                "--reason",
                "a # in quotes",
                "--target",
                "default",
            ],
        )
    ]
    assert cli_problem(found[0][1][1:]) is None


def test_slugs_and_anchors_follow_github() -> None:
    assert github_slug("1. A scikit-learn model saved with skops") == "1-a-scikit-learn-model-saved-with-skops"
    assert github_slug("`modelpilot up --slo FILE`: in process") == "modelpilot-up---slo-file-in-process"
    assert github_slug("Performance: realized, estimated, reconciled") == "performance-realized-estimated-reconciled"
    assert github_slug("SLI / SLO — error budget") == "sli--slo--error-budget"
    assert "canary-judge" in anchors(ROOT / "docs" / "benchmarks.md")
    assert link_problem(ROOT / "README.md", "docs/no-such-page.md") is not None
    assert link_problem(ROOT / "README.md", "docs/rollouts.md#no-such-heading") is not None
    assert link_problem(ROOT / "README.md", "docs/rollouts.md#the-canary-judge") is None
    assert link_problem(ROOT / "README.md", "https://example.com/x.md#y") is None
