"""Groups of identical or near-identical submissions, for an instructor to look at (not a verdict).

Only answer cells count (code cells under a "Question NN.x" heading). Each is normalised so that
cosmetic edits do not hide a copy: comments and docstrings dropped, layout and quotes made canonical
(Python's ast), and the names a cell binds (variables, parameters, functions, loop targets) renamed in
order of first use; attributes, imported and global names and literals are kept. Then, per question:

- cells that still raise NotImplementedError (the untouched stub) are dropped, and so are cells that
  more than half of the submissions have identically (the template, the `check(...)` lines);
- each submission becomes a set of token 5-grams, minus the 5-grams that more than half of the
  submissions share (template lines inside an answered cell, the obvious idiom), like MOSS does;
- a submission with almost nothing left (essentially empty) is ignored;
- identical sets are bucketed by hash; the buckets are then compared pairwise by Jaccard similarity
  (only pairs whose sizes allow it), and pairs at `threshold` or above are joined into groups.

500 submissions take a second or two.
"""

import ast
import hashlib
import io
import re
import tokenize
from collections import Counter, defaultdict

K = 5               # tokens per shingle
MIN_SHINGLES = 12   # fewer distinct shingles of its own than this: an essentially empty submission
_TOKEN = re.compile(r"\w+|[^\w\s]")
_MAGIC = re.compile(r"^(\s*)([%!].*)$", re.MULTILINE)


def groups(sources: dict, threshold: float = 0.9) -> list:
    """Sorted groups (sorted lists of paths, two or more) of submissions whose answers are (near-)identical.

    sources maps a submission's path to its code cells as (section like "01.q3" or None, source).
    """
    return [sorted(group) for group, _ in analyse(sources, threshold)]


def analyse(sources: dict, threshold: float = 0.9) -> list:
    """[(sorted paths, lowest similarity between two of them that were joined)], sorted; 1.0 means identical."""
    prints = fingerprints(sources)
    buckets = defaultdict(list)
    for path, shingles in prints.items():
        buckets[shingles].append(path)
    keys = sorted(buckets, key=lambda s: min(buckets[s]))
    parent = {key: key for key in keys}
    weakest = {key: 1.0 for key in keys}

    def root(key):
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    by_size = sorted(keys, key=len)
    for i, a in enumerate(by_size):
        for b in by_size[i + 1:]:
            if len(a) < threshold * len(b):  # Jaccard <= |a| / |b|; every later b is at least as large
                break
            common = len(a & b)
            score = common / (len(a) + len(b) - common)
            if score >= threshold:
                ra, rb = root(a), root(b)
                low = min(weakest[ra], weakest[rb], score)
                if ra != rb:
                    parent[rb] = ra
                weakest[ra] = low
    found = defaultdict(list)
    for key in keys:
        found[root(key)].extend(buckets[key])
    result = [(sorted(paths), round(weakest[key], 3)) for key, paths in found.items() if len(paths) > 1]
    return sorted(result)


def fingerprints(sources: dict) -> dict:
    """{path: frozenset of shingle hashes} of the submissions that have answers of their own."""
    population = Counter()            # section -> submissions that have it
    identical = defaultdict(Counter)  # section -> normalised cell text -> submissions that have it
    frequency = Counter()             # shingle -> submissions that have it (stubs and template included)
    candidates = {}                   # path -> {shingles of its answered cells}
    cache = {}
    for path, items in sources.items():
        answered, everything, texts = set(), set(), set()
        for section, source in items:
            if not section or not isinstance(source, str):
                continue
            if source not in cache:
                text, stub = normalise(source)
                cache[source] = (text, stub, _shingles(text))
            text, stub, shingles = cache[source]
            texts.add((section, text))
            everything.update((section, s) for s in shingles)
            if not stub:
                answered.update((section, text, s) for s in shingles)
        population.update({section for section, _ in texts})
        for section, text in texts:
            identical[section][text] += 1
        frequency.update(everything)
        candidates[path] = answered
    result = {}
    for path, answered in candidates.items():
        own = {(section, s) for section, text, s in answered
               if identical[section][text] * 2 <= population[section]          # not the template-like majority
               and frequency[(section, s)] * 2 <= population[section]}       # nor a line most have
        if len(own) >= MIN_SHINGLES:
            result[path] = frozenset(_hash(s) for s in own)
    return result


def _shingles(text: str) -> set:
    tokens = _TOKEN.findall(text)
    return {" ".join(tokens[start:start + K]) for start in range(max(1, len(tokens) - K + 1))} if tokens else set()


def _hash(shingle) -> int:
    digest = hashlib.blake2b(f"{shingle[0]}\0{shingle[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def normalise(source: str) -> tuple:
    """(canonical text of a code cell, whether it is an unanswered NotImplementedError stub)."""
    try:
        tree = ast.parse(_MAGIC.sub(r"\1pass", source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _tokens_only(source), "NotImplementedError" in source
    try:
        stub = any(isinstance(node, ast.Raise) and node.exc is not None and _names(node.exc) & {"NotImplementedError"}
                   for node in ast.walk(tree))
        _strip_docstrings(tree)
        _rename(tree)
        return ast.unparse(tree), stub
    except (RecursionError, ValueError, AttributeError, TypeError):
        return _tokens_only(source), "NotImplementedError" in source


def _names(node) -> set:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _strip_docstrings(tree) -> None:
    """Drop every statement that is only a constant (docstrings, strings used as comments, bare `...`)."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for name in ("body", "orelse", "finalbody"):
            statements = getattr(node, name, None)
            if isinstance(statements, list) and statements and isinstance(statements[0], ast.stmt):
                kept = [s for s in statements if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
                if not kept and not isinstance(node, ast.Module) and name == "body":
                    kept = [ast.Pass()]
                setattr(node, name, kept)


def _bound(tree) -> set:
    """The names a cell binds itself: these are renamed; everything else (torch, nn, len, x.attr) is kept."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.alias) and node.asname:
            bound.add(node.asname)
    return bound


def _rename(tree) -> None:
    """Rename the bound names v0, v1, ... in the order they first appear (depth first, in source order)."""
    bound, mapping = _bound(tree), {}

    def new(name):
        if name not in bound:
            return name
        if name not in mapping:
            mapping[name] = f"v{len(mapping)}"
        return mapping[name]

    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            node.id = new(node.id)
        elif isinstance(node, ast.arg):
            node.arg = new(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.name = new(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            node.name = new(node.name)
        elif isinstance(node, ast.alias) and node.asname:
            node.asname = new(node.asname)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            node.names = [new(n) for n in node.names]
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _tokens_only(source: str) -> str:
    """The fallback for a cell that is not Python: its tokens without comments, one space apart."""
    try:
        tokens = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline)
                  if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                    tokenize.DEDENT, tokenize.ENDMARKER)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        tokens = _TOKEN.findall(re.sub(r"#[^\n]*", "", source))
    return " ".join(tokens)
