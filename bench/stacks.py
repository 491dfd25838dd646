"""Collapsed stacks (py-spy's raw format) summed into the tables a person reads."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r":\d+\)$")
# Frames every request passes through in a thread pool: they say nothing about the cost.
_PLUMBING = ("threading.py", "concurrent/futures/")


def function_of(frame: str) -> str:
    """A frame without its line: "f (a/b.py:58)" becomes "f (a/b.py)"."""
    return _LINE.sub(")", frame)


def package(frame: str) -> str:
    """The first part of a frame's file, as py-spy shortens it: "functions", "werkzeug", "uuid"."""
    location = function_of(frame).rpartition(" (")[2].rstrip(")")
    return location.split("/")[0].removesuffix(".py")


@dataclass
class Profile:
    """Samples by stack, root first; each frame is "function (file:line)"."""

    stacks: Counter[tuple[str, ...]] = field(default_factory=Counter)

    @classmethod
    def read(cls, path: Path) -> Profile:
        profile = cls()
        for line in path.read_text().splitlines():
            frames, _, count = line.rpartition(" ")
            if frames and count.isdigit():
                profile.stacks[tuple(frames.split(";"))] += int(count)
        return profile

    @property
    def samples(self) -> int:
        return sum(self.stacks.values())

    def self_lines(self) -> Counter[str]:
        """Samples by leaf frame and line: where the interpreter was."""
        found: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            found[stack[-1]] += count
        return found

    def self_functions(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            found[function_of(stack[-1])] += count
        return found

    def by_package(self) -> Counter[str]:
        """Self time by the package of the leaf frame (flask, gunicorn, functions, ...)."""
        found: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            found[package(stack[-1])] += count
        return found

    def tree(self, root: str, depth: int, min_share: float) -> list[tuple[int, float, str]]:
        """The call tree under the first frame whose function starts with root:
        (level, share of all samples, function), children by descending share."""
        paths: Counter[tuple[str, ...]] = Counter()
        for stack, count in self.stacks.items():
            functions = [function_of(frame) for frame in stack]
            start = next((i for i, f in enumerate(functions) if f.startswith(root)), None)
            if start is None:
                continue
            below = functions[start : start + depth + 1]
            for end in range(1, len(below) + 1):
                paths[tuple(below[:end])] += count
        total = self.samples or 1
        rows: list[tuple[int, float, str]] = []

        def walk(prefix: tuple[str, ...]) -> None:
            children = [p for p in paths if len(p) == len(prefix) + 1 and p[:-1] == prefix]
            for child in sorted(children, key=paths.__getitem__, reverse=True):
                share = 100 * paths[child] / total
                if share >= min_share:
                    rows.append((len(prefix), share, child[-1]))
                    walk(child)

        for top in [p for p in paths if len(p) == 1]:
            rows.append((0, 100 * paths[top] / total, top[0]))
            walk(top)
        return rows


def render(title: str, profile: Profile, roots: tuple[str, ...], count: int = 12) -> str:
    total = profile.samples or 1
    lines = [f"== {title}: {profile.samples} samples while a thread held the GIL"]
    for heading, counter in (
        ("self time by package", profile.by_package()),
        ("self time by function", profile.self_functions()),
        ("self time by line", profile.self_lines()),
    ):
        lines.append(f"-- {heading}")
        lines += [
            f"{100 * samples / total:6.1f}%  {name}"
            for name, samples in counter.most_common(count)
            if not name.startswith(_PLUMBING)
        ]
    for root in roots:
        lines.append(f"-- call tree under {root}")
        lines += [
            f"{share:6.1f}%  {'  ' * level}{name}"
            for level, share, name in profile.tree(root, depth=4, min_share=0.5)
        ]
    return "\n".join(lines)
