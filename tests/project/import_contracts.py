"""An import-linter contract type: no import cycle between modules (`.importlinter` declares it).

import-linter's own `acyclic_siblings` compares sibling packages, so it flags subpackages that use
each other in both directions even when no module cycle exists (muser_train's `corpus` and
`teachers` do), and it cannot be narrowed to modules. This one takes the module graph grimp built
(imports inside functions included, `if TYPE_CHECKING:` ones left out as the config says) and fails
for every set of modules that import each other round in a circle, naming one cycle with its lines.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative), each sorted,
    sorted by their first module. A module that imports itself is no cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return sorted(out)


def shortest_cycle(graph: Mapping[str, Iterable[str]], component: list[str]) -> list[str]:
    """The shortest path from the component's first module back to itself, inside the component
    (breadth first): [a, b, ..., a]."""
    start, inside = component[0], set(component)
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w == start and v != start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if w in inside and w not in parent:
                    parent[w] = v
                    following.append(w)
        frontier = following
    raise ValueError(f"{component} is not a cycle")


class AcyclicModulesContract(Contract):
    """No import cycle among the modules of `packages` (and their subpackages)."""

    type_name = "acyclic_modules"
    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        roots = tuple(self.packages)  # type: ignore[arg-type]
        inside = {m for m in graph.modules if m in roots or m.startswith(tuple(f"{r}." for r in roots))}
        edges = {m: graph.find_modules_directly_imported_by(m) & inside for m in inside}
        found = []
        for component in find_cycles(edges):
            cycle = shortest_cycle(edges, component)
            links = []
            for a, b in zip(cycle, cycle[1:]):
                lines = sorted(d["line_number"] for d in graph.get_import_details(importer=a, imported=b))
                links.append(f"{a} -> {b} (l.{', '.join(map(str, lines))})")
            found.append({"modules": component, "links": links})
        return ContractCheck(kept=not found, metadata={"cycles": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(f"Import cycle among {', '.join(cycle['modules'])}:")
            for link in cycle["links"]:
                output.print_error(f"- {link}", bold=False)
            output.new_line()
