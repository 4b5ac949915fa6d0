"""`muser-train`: the tools that prepare training (corpus builders, teachers, distillation, head
refits, held-out reports), one typer app beside `muser`, sharing its error handler and exit codes.

Why a second script and not `muser train corpus ...`: `muser train --data ...` is the main training
command and takes its options directly; a group under it would have to mix its own 40 options with
sub-command names. These tools serve whoever rebuilds the corpus, not the user tagging a library,
so they stay out of `muser --help`.

Each tool keeps its own option parser (in its module, `main(argv)`); this app hands it the
arguments after the command name, and its `-h` prints the tool's options. `python -m
muser_train.corpus` and every `python -m muser_train....` module run the same `main(argv)`, with
one error line and the same exit codes (`muser_model.core.errors.run_main`).
"""
from __future__ import annotations

import sys
from importlib import import_module
from typing import Any

import typer

from muser_cli.main import _Command, _MuserGroup

# command group -> command -> module whose main(argv) it runs (argv: the arguments after the command)
TOOLS: dict[str, dict[str, str]] = {
    "corpus": {
        "build": "muser_train.corpus.build",
        "mma": "muser_train.corpus.mma",
        "games": "muser_train.corpus.games",
        "scores": "muser_train.corpus.scores",
        "realmusic": "muser_train.corpus.realmusic",
        "renders": "muser_train.corpus.renders",
        "freepats": "muser_train.corpus.freepats",
        "pseudo-tags": "muser_train.corpus.pseudo_tags",
    },
    "teachers": {
        "convert": "muser_train.teachers.convert",
        "agreement": "muser_train.teachers.agreement",
        "score": "muser_train.teachers.score_manifest",
    },
    "training": {
        "distill": "muser_train.training.distill",
        "refit-heads": "muser_train.training.refit_heads",
    },
    "eval": {
        "report": "muser_train.evaluation.report",
        "datacard": "muser_train.evaluation.datacard",
        "query-words": "muser_train.evaluation.query_words",
        "query-set": "muser_train.evaluation.query_set",
        "grounding": "muser_train.evaluation.grounding_eval",
    },
}
HELP = {
    "corpus": "Build the offline training corpus (build: all of it; the others: one sub-corpus).",
    "teachers": "Convert the musicnn teachers, measure their agreement, score a manifest.",
    "training": "Training steps beside `muser train`: stage-1 distillation, tag-head refits.",
    "eval": "Held-out reports, the data card's tables, search-word checks.",
}
SUMMARY = {
    "muser_train.corpus.build": "The whole corpus: sub-corpora, mood captions, teacher scores, merge.",
    "muser_train.corpus.mma": "MIDI renders of MMA grooves and music21 classical pieces.",
    "muser_train.corpus.games": "Excerpts of the music of Debian game packages.",
    "muser_train.corpus.scores": "music21 scores with composer, period, form and instrument labels.",
    "muser_train.corpus.realmusic": "Corpus v3: the real music of allow-listed Debian packages.",
    "muser_train.corpus.renders": "LMMS demo projects and Hydrogen demo songs, rendered headless.",
    "muser_train.corpus.freepats": "The freepats patch set as a TiMidity++ config (prints its path).",
    "muser_train.corpus.pseudo_tags": "Pseudo-tag a corpus with the musicnn MTT-50 teacher.",
    "muser_train.teachers.convert": "Convert the musicnn teachers to numpy weights.",
    "muser_train.teachers.agreement": "How much two teachers of one vocabulary agree, on real audio.",
    "muser_train.teachers.score_manifest": "Teacher ensemble scores of every clip of a manifest.",
    "muser_train.training.distill": "Stage-1 distillation from a teacher checkpoint.",
    "muser_train.training.refit_heads": "Refit a checkpoint's tag heads with a hidden layer.",
    "muser_train.evaluation.report": "Held-out report of a checkpoint on a captioned corpus.",
    "muser_train.evaluation.datacard": "A checkpoint's training record and report as the data-card tables.",
    "muser_train.evaluation.query_words": "Do search words mean what the teachers mean? One number per word.",
    "muser_train.evaluation.query_set": "Check the dev query set; rewrite the open-label clip sets.",
    "muser_train.evaluation.grounding_eval": "Text grounding against the teachers: search NDCG, labels, moods, genre.",
}
_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}

app = typer.Typer(cls=_MuserGroup, add_completion=False, no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Prepare MUSER's training: corpus, teachers, distillation, reports "
                       "(`muser train` trains).")


def _tool(module: str):
    def command(ctx: typer.Context) -> None:
        raise typer.Exit(run_tool(module, ctx.command_path, ctx.args))

    command.__doc__ = f"{SUMMARY[module]} Options: -h."
    return command


def run_tool(module: str, prog: str, argv: list[str]) -> int:
    """Run one tool's `main(argv)` under `prog` (its usage lines name the command as typed);
    a MuserError it raises reaches the group's handler."""
    saved = sys.argv[0]
    sys.argv[0] = prog  # argparse names itself after argv[0]
    try:
        return int(_import_tool(module).main(argv) or 0)
    finally:
        sys.argv[0] = saved


for _group, _commands in TOOLS.items():
    _sub = typer.Typer(cls=_MuserGroup, no_args_is_help=True, help=HELP[_group],
                       context_settings={"help_option_names": ["-h", "--help"]})
    for _name, _module in _commands.items():
        _sub.command(name=_name, cls=_Command, add_help_option=False, context_settings=_PASS_THROUGH)(_tool(_module))
    app.add_typer(_sub, name=_group)


def _import_tool(module: str):
    """The tool's module; TorchMissingError (one line) where it needs torch and torch is missing."""
    try:
        return import_module(module)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "torch":
            raise
        from muser_model.core.errors import TorchMissingError

        raise TorchMissingError("muser-train " + " ".join(command_of(module))) from exc


def command_of(module: str) -> list[str]:
    """The `muser-train` words that run a module, e.g. ["corpus", "mma"]."""
    return next([group, name] for group, commands in TOOLS.items() for name, m in commands.items() if m == module)


def main(args: Any = None) -> None:
    app(args=args, prog_name="muser-train")


if __name__ == "__main__":
    main()
