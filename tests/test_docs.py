"""The README and docs/ stay true to the checkout: every relative link and anchor leads
somewhere, every page opens with its own contents, every `run_bot.py` command and option,
file, setting and module the pages name exists, and the README's map names every folder.

Cheap on purpose: it reads files and builds the command-line parser, and starts nothing.
Each check is a function from a page's text to the problems in it, so the tests at the
bottom can show each one failing on a broken page.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.parser import build_parser
from models.infra.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

# Names written like settings that are not settings. Add one here, with what it is, when a
# page names such a thing; a setting's name must be a Settings field or in .env.example.
NOT_SETTINGS = {
    "CHARGE_ALREADY_REFUNDED": "a Telegram error (refundStarPayment)",
    "PROVIDER_ACCOUNT_INVALID": "a Telegram error (buying Stars inside a bot's payment sheet)",
    "SO_REUSEPORT": "a socket option (run_api.py --workers)",
    "BALANCE_TOO_LOW": "a Telegram error (sendGift: the bot's Stars do not cover it)",
    "STARGIFT_USAGE_LIMITED": "a Telegram error (sendGift: sold out)",
}
# Folders that exist only once something ran (the processes, the tests, the set-up).
RUNTIME_FOLDERS = {"data", "tests/artifacts", ".venv", "node_modules"}

SETTING = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+"
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")
INLINE_CODE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
PROGRAM = re.compile(r"(?<![\w.-])(run_bot\.py|run_api\.py|stars-bot|stars-api)(?![\w.-])")
MODULE_RUN = re.compile(r"python3?\s+-m\s+([\w.]+)")
BARE_WORD = re.compile(r"[a-z][a-z-]*")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
SHELL_SETTING = re.compile(rf"(?<![\w$.-])({SETTING})=|\$\{{?({SETTING})\b")
REPO_PATH = re.compile(r"^\.?[\w-]+(?:/[\w.*-]*)+$")
BARE_FILE = re.compile(r"^\.?[\w-]+(?:\.[\w-]+)*\.(?:py|md|toml|txt|yml|yaml|example)$")
SHELL_LANGUAGES = {"sh", "bash", "shell", "console", "ini"}


@dataclass(frozen=True)
class Page:
    """A Markdown page split into prose and fenced code blocks (language, code)."""

    path: Path
    prose: list[str]
    code: list[tuple[str, str]]
    # For each code block, how many prose lines came before it.
    code_at: list[int]

    @classmethod
    def read(cls, path: Path, text: str | None = None) -> Page:
        prose: list[str] = []
        code: list[tuple[str, str]] = []
        code_at: list[int] = []
        fence: str | None = None
        language, block = "", list[str]()
        for line in (path.read_text() if text is None else text).splitlines():
            opening = FENCE.match(line)
            if fence is None and opening:
                fence, language, block = opening.group(1), opening.group(2), []
            elif fence is not None and line.strip().startswith(fence):
                code.append((language, "\n".join(block)))
                code_at.append(len(prose))
                fence = None
            elif fence is not None:
                block.append(line)
            else:
                prose.append(line)
        return cls(path, prose, code, code_at)

    def paragraphs(self) -> Iterator[str]:
        """The prose a paragraph at a time, on one line: code spans and link texts may
        wrap."""
        yield from (" ".join(p.split()) for p in "\n".join(self.prose).split("\n\n"))

    def inline_code(self) -> Iterator[str]:
        for paragraph in self.paragraphs():
            yield from INLINE_CODE.findall(paragraph)

    def links(self) -> Iterator[str]:
        for paragraph in self.paragraphs():
            yield from LINK.findall(INLINE_CODE.sub("", paragraph))

    def headings(self) -> Iterator[tuple[int, str]]:
        for line in self.prose:
            if match := HEADING.match(line):
                yield len(match.group(1)), match.group(2)

    def shell_lines(self) -> Iterator[str]:
        """Lines that may hold a command: inline code, and shell-like code blocks."""
        yield from self.inline_code()
        for language, block in self.code:
            if language in SHELL_LANGUAGES:
                yield from block.splitlines()


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: code and link text kept, punctuation dropped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Page) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for _, heading in page.headings():
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def link_problems(page: Page) -> list[str]:
    problems = []
    for target in page.links():
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
            continue
        name, _, fragment = target.partition("#")
        if not name:
            if fragment not in anchors(page):
                problems.append(f"{page.path.name}: link to {target}: no heading #{fragment}")
            continue
        path = (page.path.parent / name).resolve()
        if not path.exists():
            problems.append(f"{page.path.name}: link to {target}: no file {name}")
        elif fragment and path.suffix == ".md" and fragment not in anchors(Page.read(path)):
            problems.append(f"{page.path.name}: link to {target}: no heading #{fragment}")
    return problems


def contents_problems(page: Page) -> list[str]:
    """A page opens with `## Contents`, a list of links to each of its `##` sections."""
    sections = [heading for level, heading in page.headings() if level == 2]
    if not sections or sections[0] != "Contents":
        return [f"{page.path.name}: the first section is not '## Contents'"]
    start = page.prose.index("## Contents")
    end = next(
        (i for i in range(start + 1, len(page.prose)) if page.prose[i].startswith("#")),
        len(page.prose),
    )
    listed = {t.removeprefix("#") for t in LINK.findall("\n".join(page.prose[start:end]))}
    return [
        f"{page.path.name}: '## {heading}' is missing from its Contents"
        for heading in sections[1:]
        if slug(heading) not in listed
    ]


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """The parser's options and those of its own subcommands (`events redeliver --all`)."""
    found = {option for action in parser._actions for option in action.option_strings}
    for child in _choices(parser).values():
        found |= _options(child)
    return found


def _arguments(rest: str) -> list[str]:
    """The words after a program name, up to the end of its command (a comment, a quote,
    the next command), with the [ | ] of usage lines taken away."""
    rest = re.split(r"\s#|['\"`;&)]", rest, maxsplit=1)[0]
    return [word for word in re.split(r"[\s\[\]|]+", rest) if word]


def _commands(line: str, pattern: re.Pattern[str]) -> Iterator[tuple[str, list[str]]]:
    """Each name the pattern finds in a line, with the words of its command."""
    found = list(pattern.finditer(line))
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(line)
        before = re.split(r"&&|;|\|", line[: match.start()])[-1]
        if re.search(r"\b(systemctl|journalctl)\b", before):  # stars-bot, the unit
            continue
        yield match.group(1), _arguments(line[match.end() : end])


def _script_options(path: Path) -> set[str]:
    return set(OPTION.findall(path.read_text()))


def declared_scripts() -> dict[str, str]:
    scripts: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get(
        "scripts", {}
    )
    return scripts


def command_problems(page: Page, scripts: dict[str, str] | None = None) -> list[str]:
    """Every run_bot.py/stars-bot command is a subcommand of bot/parser.py with options it
    has; every run_api.py option exists; stars-bot/stars-api are console scripts;
    `python -m X` names a module of the checkout with the options it defines."""
    problems = []
    bot = build_parser()
    scripts = declared_scripts() if scripts is None else scripts
    packages = {entry.name for entry in ROOT.iterdir() if (entry / "__init__.py").is_file()}
    for line in page.shell_lines():
        for program, words in _commands(line, PROGRAM):
            where = f"{page.path.name}: `{' '.join([program, *words])}`"
            if program.startswith("stars-") and program not in scripts:
                problems.append(f"{where}: pyproject.toml declares no {program} script")
            options = set(OPTION.findall(" ".join(words))) - {"--help"}
            if program in ("run_api.py", "stars-api"):
                unknown = options - _script_options(ROOT / "api" / "main.py")
                problems += [f"{where}: run_api.py has no option {o}" for o in sorted(unknown)]
                continue
            parser = bot
            if words and BARE_WORD.fullmatch(words[0]):
                if words[0] not in _choices(bot):
                    problems.append(f"{where}: run_bot.py has no command {words[0]!r}")
                    continue
                parser = _choices(bot)[words[0]]
                actions = _choices(parser)
                action = words[1] if len(words) > 1 and BARE_WORD.fullmatch(words[1]) else None
                if actions and action is not None and action not in actions:
                    problems.append(f"{where}: {words[0]} has no action {action!r}")
            problems += [f"{where}: no option {o}" for o in sorted(options - _options(parser))]
        for module, words in _commands(line, MODULE_RUN):
            if module.split(".")[0] not in packages:  # venv, pytest: not ours
                continue
            base = ROOT.joinpath(*module.split("."))
            source = base / "__main__.py" if base.is_dir() else base.with_suffix(".py")
            if not source.is_file():
                problems.append(f"{page.path.name}: `python -m {module}`: no such module")
                continue
            unknown = set(OPTION.findall(" ".join(words))) - _script_options(source) - {"--help"}
            problems += [
                f"{page.path.name}: `python -m {module}` has no option {option}"
                for option in sorted(unknown)
            ]
    return problems


def known_settings() -> set[str]:
    """Settings fields, names in .env.example, and the variables the tests and CI read."""
    names = {name.upper() for name in Settings.model_fields}
    names |= set(re.findall(rf"^#?\s*({SETTING})=", (ROOT / ".env.example").read_text(), re.M))
    for source in [*(ROOT / "tests").rglob("*.py"), ROOT / ".ci" / "run"]:
        text = source.read_text()
        names |= set(re.findall(rf"environ(?:\.get)?[\[(]\"({SETTING})\"", text))
        names |= set(re.findall(rf"^export ({SETTING})=", text, re.M))
    return names


def setting_problems(page: Page) -> list[str]:
    known = known_settings() | set(NOT_SETTINGS)
    named = set()
    for code in page.inline_code():
        if match := re.fullmatch(rf"({SETTING})(?:=.*)?", code):
            named.add(match.group(1))
        named |= {a or b for a, b in SHELL_SETTING.findall(code)}
    for language, block in page.code:
        if language in SHELL_LANGUAGES:
            named |= {a or b for a, b in SHELL_SETTING.findall(block)}
    return [
        f"{page.path.name}: {name} is neither a setting (models/infra/settings.py, "
        ".env.example) nor a variable the tests read; if it is not a setting, add it to "
        "NOT_SETTINGS in tests/test_docs.py"
        for name in sorted(named - known)
    ]


def path_problems(page: Page) -> list[str]:
    """Paths in inline code: `api/shapes.py` where it says, `lanes.py` somewhere."""
    problems = []
    top = {entry.name for entry in ROOT.iterdir()}
    for code in page.inline_code():
        candidate = code.split(" ", 1)[0].rstrip(".,:;)")
        if any(mark in candidate for mark in "{}<>…"):
            continue
        if REPO_PATH.match(candidate) and candidate.split("/", 1)[0] in top:
            folder = candidate.rstrip("/")
            if any(folder == f or folder.startswith(f"{f}/") for f in RUNTIME_FOLDERS):
                continue
            if not list(ROOT.glob(folder)):
                problems.append(f"{page.path.name}: `{code}`: no {candidate} in the checkout")
        elif BARE_FILE.match(candidate) and not next(_files_named(candidate), None):
            problems.append(f"{page.path.name}: `{code}`: no file {candidate} in the checkout")
    return problems


def _gitignored() -> list[str]:
    lines = (ROOT / ".gitignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(relative: Path, patterns: list[str]) -> bool:
    for pattern in patterns:
        bare = pattern.rstrip("/")
        if "/" in bare:
            if fnmatch.fnmatch(relative.as_posix(), bare):
                return True
        elif any(fnmatch.fnmatch(part, bare) for part in relative.parts):
            return True
    return False


def _walk(folder: Path, patterns: list[str]) -> Iterator[Path]:
    """Folders and files of the checkout, without what git ignores (caches that ignore
    themselves with a `*` .gitignore, such as mypy's, included)."""
    for entry in sorted(folder.iterdir()):
        relative = entry.relative_to(ROOT)
        if entry.name == ".git" or _ignored(relative, patterns):
            continue
        if entry.is_dir():
            own = entry / ".gitignore"
            if own.is_file() and "*" in own.read_text().split():
                continue
            yield entry
            yield from _walk(entry, patterns)
        else:
            yield entry


@functools.cache
def checkout_files() -> tuple[Path, ...]:
    """Every file git would track, relative to the checkout."""
    return tuple(p.relative_to(ROOT) for p in _walk(ROOT, _gitignored()) if p.is_file())


def _files_named(name: str) -> Iterator[Path]:
    return (path for path in checkout_files() if path.name == name)


def checkout_folders() -> set[str]:
    """Every folder that holds a file git would track."""
    return {p.as_posix() for path in checkout_files() for p in path.parents if p.parts}


def map_entries(page: Page) -> set[str]:
    """The folders and files the README's 'Where things are' block names, as paths: a
    line's names come before its description, indented two spaces under their folder."""
    start = page.prose.index("## Where things are")
    block = next(code for (_, code), at in zip(page.code, page.code_at, strict=True) if at > start)
    entries: set[str] = set()
    parents: list[str] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip())) // 2
        parents = parents[:depth]
        names = re.split(r"[,\s]+", re.split(r"\s{2,}", line.strip(), maxsplit=1)[0])
        folder = None
        for name in filter(None, names):
            if "*" in name:
                continue
            path = "/".join([*parents, name.rstrip("/")])
            entries.add(path + ("/" if name.endswith("/") else ""))
            if name.endswith("/"):
                folder = path
        if folder is not None and len(names) == 1:
            parents = folder.split("/")
    return entries


def map_problems(page: Page, folders: set[str]) -> list[str]:
    entries = map_entries(page)
    named = set()
    for entry in entries:
        parts = entry.rstrip("/").split("/")
        named |= {"/".join(parts[:i]) for i in range(1, len(parts) + (entry.endswith("/")))}
    problems = [
        f"README map: no folder {f}/ (add it under 'Where things are')"
        for f in sorted(folders - named)
    ]
    problems += [
        f"README map names {entry}, which is not in the checkout"
        for entry in sorted(entries)
        if not (ROOT / entry.rstrip("/")).exists()
    ]
    return problems


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_relative_link_and_anchor_leads_somewhere(path: Path) -> None:
    assert link_problems(Page.read(path)) == []


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_page_opens_with_its_contents(path: Path) -> None:
    assert contents_problems(Page.read(path)) == []


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_command_shown_exists(path: Path) -> None:
    assert command_problems(Page.read(path)) == []


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_setting_named_exists(path: Path) -> None:
    assert setting_problems(Page.read(path)) == []


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_file_named_exists(path: Path) -> None:
    assert path_problems(Page.read(path)) == []


def test_the_readme_map_names_every_folder() -> None:
    assert map_problems(Page.read(README), checkout_folders()) == []


def test_the_readme_is_short() -> None:
    assert len(README.read_text().splitlines()) <= 300


# The checks fail on a broken page: each of these pages breaks one rule once.

BROKEN = ROOT / "docs" / "broken.md"


def broken(text: str) -> Page:
    return Page.read(BROKEN, text)


def test_a_broken_link_or_anchor_is_reported() -> None:
    page = broken(
        "# Broken\n\n## Contents\n\n- [Here](#here)\n\n## Here\n\n"
        "[ok](operations.md#failover) [ok](#here) [ok](https://example.org/nowhere)\n"
        "[a](nowhere.md) [b](operations.md#no-such-section) [c](#gone) [d](../no/such/dir/)\n"
        "`[not a link](nowhere.md)`\n"
    )
    assert link_problems(page) == [
        "broken.md: link to nowhere.md: no file nowhere.md",
        "broken.md: link to operations.md#no-such-section: no heading #no-such-section",
        "broken.md: link to #gone: no heading #gone",
        "broken.md: link to ../no/such/dir/: no file ../no/such/dir/",
    ]


def test_anchors_are_githubs() -> None:
    page = broken("## The bot's own Stars\n## `/paysupport`\n## Two: a, b (c)\n## Two: a, b (c)\n")
    assert anchors(page) == {"the-bots-own-stars", "paysupport", "two-a-b-c", "two-a-b-c-1"}


def test_a_page_without_contents_or_with_a_section_left_out_is_reported() -> None:
    assert contents_problems(broken("# Broken\n\n## Usage\n")) == [
        "broken.md: the first section is not '## Contents'"
    ]
    page = broken("# Broken\n\n## Contents\n\n- [Usage](#usage)\n\n## Usage\n\n## Later\n")
    assert contents_problems(page) == ["broken.md: '## Later' is missing from its Contents"]


def test_a_command_that_does_not_exist_is_reported() -> None:
    page = broken(
        "Run `run_bot.py chek` or `run_bot.py check --offline`.\n\n"
        "```sh\n"
        ".venv/bin/python run_bot.py reconcile --fulll   # a typo\n"
        ".venv/bin/python run_bot.py events redeliver --all\n"
        ".venv/bin/python run_bot.py events resend evt_1\n"
        "sudo -u stars sh -c 'exec .venv/bin/python run_bot.py user 777 --limit 5'\n"
        ".venv/bin/python run_api.py --workers 2 --threads 4\n"
        "stars-gifts run\n"
        "python -m tests.emulator --port 8081 --colour\n"
        "python -m tests.nowhere\n"
        "```\n"
    )
    assert command_problems(page) == [
        "broken.md: `run_bot.py chek`: run_bot.py has no command 'chek'",
        "broken.md: `run_bot.py reconcile --fulll`: no option --fulll",
        "broken.md: `run_bot.py events resend evt_1`: events has no action 'resend'",
        "broken.md: `run_api.py --workers 2 --threads 4`: run_api.py has no option --threads",
        "broken.md: `python -m tests.emulator` has no option --colour",
        "broken.md: `python -m tests.nowhere`: no such module",
    ]


def test_a_console_script_that_is_not_declared_is_reported() -> None:
    scripts = {name: target for name, target in declared_scripts().items() if name != "stars-bot"}
    problems = command_problems(broken("Run `stars-bot check`.\n"), scripts)
    assert "broken.md: `stars-bot check`: pyproject.toml declares no stars-bot script" in problems


def test_a_setting_that_does_not_exist_is_reported() -> None:
    page = broken(
        "Set `EVENT_URL` (a typo) and `EVENTS_URL`; `PROVIDER_ACCOUNT_INVALID` is Telegram's.\n\n"
        "```sh\nexport BOT_TOKEN=1 DATABSE_URL=sqlite://x\necho $WEBAPP_URLS\n```\n"
        "```python\nSERVICE_KEY = 'a Python name, not a setting'\n```\n"
    )
    assert [problem.split(" is ")[0] for problem in setting_problems(page)] == [
        "broken.md: DATABSE_URL",
        "broken.md: EVENT_URL",
        "broken.md: WEBAPP_URLS",
    ]


def test_a_file_that_does_not_exist_is_reported() -> None:
    page = broken(
        "See `api/shapes.py`, `tests/bot/test_events*.py`, `lanes.py`, `migrations/sqlite`, "
        "`data/stars.sqlite3`, `/etc/stars/stars.env`, `api/nowhere.py`, `tests/bot/zz*.py`, "
        "`nowhere.py` and `models/payments/`.\n"
    )
    assert path_problems(page) == [
        "broken.md: `api/nowhere.py`: no api/nowhere.py in the checkout",
        "broken.md: `tests/bot/zz*.py`: no tests/bot/zz*.py in the checkout",
        "broken.md: `nowhere.py`: no file nowhere.py in the checkout",
        "broken.md: `models/payments/`: no models/payments/ in the checkout",
    ]


def test_a_folder_missing_from_the_map_is_reported() -> None:
    page = broken(
        "## Where things are\n\n```text\n"
        "run_bot.py, nowhere.toml   entry points\n"
        "bot/                     the worker\n"
        "  handlers/              routers\n"
        "migrations/              aerich\n"
        "  postgres/models/       PostgreSQL\n"
        "```\n"
    )
    assert map_entries(page) == {
        "run_bot.py",
        "nowhere.toml",
        "bot/",
        "bot/handlers/",
        "migrations/",
        "migrations/postgres/models/",
    }
    problems = map_problems(page, {"bot", "bot/handlers", "migrations/postgres/models", "api"})
    assert problems == [
        "README map: no folder api/ (add it under 'Where things are')",
        "README map names nowhere.toml, which is not in the checkout",
    ]
