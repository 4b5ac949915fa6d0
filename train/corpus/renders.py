"""Corpus v3 renders: the LMMS demo projects and the Hydrogen demo songs, rendered headless.

    python -m muser_train.corpus.renders --out corpus/renders [--jobs 1] [--max-seconds S]
        [--timeout S] [--engines hydrogen lmms] [--retry-failed] [--export]

Sources (the allow-list, /work/shared/corpus-sources.md): the Debian packages lmms/lmms-common
(every project under /usr/share/lmms/projects/demos and .../shorties; the tutorials are not
music) and hydrogen/hydrogen-data/hydrogen-drumkits (the demo songs and the drum kits).

1. plan     every LMMS project, and every Hydrogen demo song once through its own kit and once
            through each other installed kit that fits it (KIT RULE below). Tempo comes from the
            project file: LMMS `<head bpm=...>`, Hydrogen `<bpm>`. A project file that does not
            parse is named in the summary's `failures` and skipped.
2. render   `lmms --allowroot render P -f wav -x 1 -o W` / `h2cli -s S [-k KIT] -o W`, each under
            a timeout (LMMS can hang; the whole process group is killed), decoded with ffmpeg to
            16 kHz mono and kept as OUT/renders/ENGINE/NAME.flac (written atomically, so a
            present file is a finished render). A render that fails, times out or is silent
            (peak below -60 dBFS: Hydrogen 1.2 loads no samples from some legacy multi-layer
            kits, e.g. The Black Pearl, Millo_MultiLayered2) is named in
            `failures` and listed in OUT/render_log.jsonl; a re-run skips finished renders and
            the failed ones (`--retry-failed` tries those again). `--max-seconds` stops starting
            new renders after that many seconds of wall time; the rest are listed as `pending`
            and a re-run does them.
3. excerpts as corpus v3 (excerpts.excerpt_job: one 12 s FLAC per 20 s, at most 16 a render,
            silent ones skipped, a file that repeats its opening loop to the end is cut to one
            pass); a kit variant whose audio hashes like another render is dropped.
4. split    by whole project/song, seeded, 15 % of each engine's songs held out; the kit
            variants of a song share its split (the split unit is the song, `group`).
5. captions from what is known: the project's name (styles named in it: reggae, reggaeton,
            progressive house, crunk, C64 chip, 80s), its author, its folder (demo / shorty),
            the kit ("a drum pattern played on the TR-808 Emulation Kit"), the tempo stored in
            the project file, and the mood measured on the excerpt. Genre "other" unless the
            name says reggae (GTZAN "reggae") or crunk (a hip-hop style: "hiphop").

KIT RULE: Hydrogen maps a song's notes to a kit by instrument id. A kit fits a song when, for
every instrument id that the song's patterns play, the kit has that id and the instrument there
plays the same part (kick, snare, hi-hat, tom, ride, cymbal, ... by name: INSTRUMENT_ROLES).

Outputs: OUT/captions.csv (the manifest), OUT/summary.json (hours, clips, failures, pending,
kit variants chosen); `--export` copies the manifest to train/corpus/data/renders_manifest.csv.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muser_model.core.errors import AudioError
from muser_train.corpus import common, mood
from muser_train.corpus.common import CLIP_S, DATA_DIR, SR, command_line, hours, with_article, write_csv, \
    write_json
from muser_train.corpus.debpkg import Licensing, licensing
from muser_train.corpus.excerpts import decode_mix, excerpt_job
from muser_train.corpus.manifest import CACHE_NAME, RENDERS_COLUMNS, read_cache
from muser_train.corpus.splits import assign_splits, groups_by
from muser_train.corpus.tracks import MTT_MOOD, clean_person, pretty_stem, safe_name

LMMS_PROJECTS = Path("/usr/share/lmms/projects")
LMMS_FOLDERS = ("demos", "shorties")
HYDROGEN_DATA = Path("/usr/share/hydrogen/data")
RENDER_TIMEOUT_S = 900.0
SILENT_PEAK = 10 ** (-60 / 20)  # a render whose peak stays below -60 dBFS is a failed render
ENGINES = ("hydrogen", "lmms")
PACKAGES = {"lmms": "lmms-common", "hydrogen": "hydrogen-data"}

# style named in an LMMS project name -> (style words, GTZAN genre); first match wins
NAME_STYLES = (
    (r"reggaeton", "reggaeton", "other"),
    (r"reggae", "reggae", "reggae"),
    (r"progressive ?house", "progressive house", "other"),
    (r"crunk", "crunk", "hiphop"),
    (r"c64", "C64 chiptune", "other"),
    (r"80s", "80s", "other"),
)
# the part an instrument plays, from its name; first match wins
INSTRUMENT_ROLES = (
    (r"kick|bass ?drum|\bbd\b", "kick"),
    (r"snare|rim", "snare"),
    (r"stick", "stick"),
    (r"clap", "clap"),
    (r"hat|\bhh\b", "hi-hat"),
    (r"tom", "tom"),
    (r"ride", "ride"),
    (r"crash|splash|china|cymbal", "cymbal"),
    (r"cowbell", "cowbell"),
    (r"shaker|maraca", "shaker"),
    (r"conga|bongo", "conga"),
    (r"clave|woodblock", "clave"),
    (r"tambourine", "tambourine"),
)


def log(msg: str) -> None:
    print(f"[renders] {msg}", file=sys.stderr, flush=True)


class ProjectError(RuntimeError):
    """A project file that cannot be read or parsed (the message names it and says why)."""


class RenderError(RuntimeError):
    """A render that failed or timed out (the message names it and says why)."""


# ----------------------------------------------------------------------------------------------
# project files
# ----------------------------------------------------------------------------------------------
def read_xml(path: Path) -> ET.Element:
    """The XML root of an LMMS .mmp/.mmpz (qCompress: 4-byte length + zlib) or a Hydrogen file."""
    try:
        data = Path(path).read_bytes()
        if Path(path).suffix.lower() == ".mmpz":
            data = zlib.decompress(data[4:])
        return ET.fromstring(data)
    except (OSError, zlib.error, ET.ParseError) as e:
        raise ProjectError(f"{Path(path).name}: not a readable project file ({e})") from None


def as_tempo(text: str | None) -> float | None:
    try:
        bpm = float(text) if text is not None else None
    except ValueError:
        return None
    return bpm if bpm is not None and 20 <= bpm <= 400 else None


def lmms_tempo(root: ET.Element) -> float | None:
    """The song tempo of an LMMS project: `<head bpm="...">` (or an older `<bpm value>` child)."""
    head = root.find("head")
    if head is None:
        return None
    bpm = as_tempo(head.get("bpm"))
    if bpm is None and head.find("bpm") is not None:
        bpm = as_tempo(head.find("bpm").get("value"))
    return bpm


@dataclass(frozen=True)
class Song:
    """What a Hydrogen song file says: name, author, tempo, its kit, the instruments it plays."""
    path: Path
    name: str
    author: str
    tempo: float | None
    kit: str
    played: dict[str, str]  # instrument id -> instrument name, for the ids its notes use


def read_song(path: Path) -> Song:
    root = read_xml(path)
    if root.tag != "song":
        raise ProjectError(f"{Path(path).name}: not a Hydrogen song (root <{root.tag}>)")
    names, kits = {}, []
    for ins in root.iterfind("instrumentList/instrument"):
        names[(ins.findtext("id") or "").strip()] = (ins.findtext("name") or "").strip()
        kits.append((ins.findtext("drumkit") or "").strip())
    used = {(n.findtext("instrument") or "").strip()
            for n in root.iterfind("patternList/pattern/noteList/note")}
    kit = max(set(kits), key=kits.count) if kits else ""
    return Song(Path(path), (root.findtext("name") or Path(path).stem).strip(),
                clean_person(root.findtext("author") or ""), as_tempo(root.findtext("bpm")),
                kit, {i: names.get(i, "") for i in sorted(used, key=_id_order)})


def _id_order(i: str) -> tuple[int, str]:
    return (int(i), "") if i.isdigit() else (1 << 30, i)


@dataclass(frozen=True)
class Kit:
    folder: str              # what `h2cli -k` takes
    name: str
    licence: str
    instruments: dict[str, str]  # id -> name


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_kit(drumkit_xml: Path) -> Kit:
    """A Hydrogen drumkit.xml (namespaced or not)."""
    root = read_xml(drumkit_xml)
    fields = {_local(c.tag): (c.text or "").strip() for c in root}
    instruments = {}
    for el in root.iter():
        if _local(el.tag) == "instrument":
            sub = {_local(c.tag): (c.text or "").strip() for c in el}
            instruments[sub.get("id", "")] = sub.get("name", "")
    return Kit(drumkit_xml.parent.name, fields.get("name") or drumkit_xml.parent.name,
               fields.get("license", ""), instruments)


def role(instrument: str) -> str:
    """The part an instrument plays ("kick", "snare", "hi-hat", ...) or "" when its name says none."""
    low = instrument.lower()
    for pattern, part in INSTRUMENT_ROLES:
        if re.search(pattern, low):
            return part
    return ""


def kit_fits(song: Song, kit: Kit) -> bool:
    """True when every instrument id the song plays is in KIT and plays the same part there."""
    for ident, name in song.played.items():
        other = kit.instruments.get(ident)
        if other is None:
            return False
        same_name = other.strip().lower() == name.strip().lower() and name.strip()
        if not same_name and (not role(name) or role(name) != role(other)):
            return False
    return bool(song.played)


# ----------------------------------------------------------------------------------------------
# the plan
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Render:
    """One render: a project (LMMS) or a song through one kit (Hydrogen)."""
    id: str            # "ENGINE/NAME", NAME unique and file-safe
    engine: str        # "lmms" | "hydrogen"
    project: str       # the project file
    group: str         # split unit: the project / song, shared by its kit variants
    title: str
    author: str = ""
    folder: str = ""   # LMMS: "demos" / "shorties"
    style: str = ""
    genre: str = "other"
    tempo: float | None = None
    kit: str = ""      # Hydrogen: the kit's name ("" = none)
    kit_folder: str = ""  # passed to `h2cli -k`; "" = the song's own kit, as authored
    licence: str = ""

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1]


def name_style(name: str) -> tuple[str, str]:
    """(style words, genre) named in a project name, or ("", "other")."""
    low = name.lower()
    for pattern, style, genre in NAME_STYLES:
        if re.search(pattern, low):
            return style, genre
    return "", "other"


def split_lmms_name(stem: str) -> tuple[str, str]:
    """("Author", "Title") of "Author-TitleInCamelCase[-OriginalByX]"; no author without a dash."""
    parts = [p for p in stem.split("-") if p]
    author = parts[0] if len(parts) > 1 else ""
    rest = parts[1:] if author else parts
    title_parts = []
    for p in rest:
        orig = re.match(r"(?i)original ?by(.+)", p)
        title_parts.append(f"(original by {orig.group(1)})" if orig else pretty_stem(p))
    title = re.sub(r"([a-z])(\d0s)\b", r"\1 \2", " ".join(title_parts) or stem)
    return author, re.sub(r"(?i)\s*\(\s*demo\s*\)", " (demo)", title).strip()


def plan_lmms(projects_dir: Path = LMMS_PROJECTS, licensing: Licensing | None = None
              ) -> tuple[list[Render], list[dict]]:
    """One render per project in demos/ and shorties/, and the files that did not parse."""
    licensing = licensing or Licensing()
    renders, failures, seen = [], [], set()
    for folder in LMMS_FOLDERS:
        for path in sorted((Path(projects_dir) / folder).rglob("*.mmp*")):
            if path.suffix.lower() not in (".mmp", ".mmpz"):
                continue
            try:
                tempo = lmms_tempo(read_xml(path))
            except ProjectError as e:
                failures.append({"id": f"lmms/{path.stem}", "project": str(path), "error": str(e)})
                continue
            name = unique(safe_name(path.stem), seen)
            author, title = split_lmms_name(path.stem)
            style, genre = name_style(path.stem)
            rel = path.relative_to(projects_dir).as_posix()
            renders.append(Render(
                id=f"lmms/{name}", engine="lmms", project=str(path), group=f"lmms/{name}",
                title=title, author=author, folder=folder, style=style, genre=genre, tempo=tempo,
                licence=licensing.lookup(f"/data/projects/{rel}")[0]))
    return renders, failures


def unique(name: str, seen: set[str]) -> str:
    out, k = name, 1
    while out in seen:
        k += 1
        out = f"{name}_{k}"
    seen.add(out)
    return out


def find_kits(data_dir: Path = HYDROGEN_DATA) -> tuple[list[Kit], list[dict]]:
    kits, failures = [], []
    for xml in sorted((Path(data_dir) / "drumkits").glob("*/drumkit.xml")):
        try:
            kits.append(read_kit(xml))
        except ProjectError as e:
            failures.append({"id": f"hydrogen-kit/{xml.parent.name}", "project": str(xml),
                             "error": str(e)})
    return kits, failures


def plan_hydrogen(data_dir: Path = HYDROGEN_DATA, kits: list[Kit] | None = None,
                  song_licence: str = "GPL-2+", kit_licences: dict[str, str] | None = None
                  ) -> tuple[list[Render], list[dict]]:
    """Each demo song through its own kit, then through every other kit that fits it."""
    failures: list[dict] = []
    if kits is None:
        kits, failures = find_kits(data_dir)
    kit_licences = kit_licences or {}
    renders, seen = [], set()
    for path in sorted((Path(data_dir) / "demo_songs").glob("*.h2song")):
        try:
            song = read_song(path)
        except ProjectError as e:
            failures.append({"id": f"hydrogen/{path.stem}", "project": str(path), "error": str(e)})
            continue
        group = f"hydrogen/{safe_name(path.stem)}"
        own = next((k for k in kits if song.kit in (k.folder, k.name)), None)
        variants = [(own.name if own else song.kit, "", own)]
        variants += [(k.name, k.folder, k) for k in kits if k is not own and kit_fits(song, k)]
        for kit_name, folder, kit in variants:
            base = safe_name(path.stem) + (f"@{safe_name(folder)}" if folder else "")
            kit_lic = kit_licences.get(kit.folder, kit.licence) if kit else ""
            renders.append(Render(
                id=f"hydrogen/{unique(base, seen)}", engine="hydrogen", project=str(path),
                group=group, title=song.name, author=song.author, tempo=song.tempo,
                kit=kit_name, kit_folder=folder,
                licence=f"song {song_licence}; kit {kit_lic or 'unknown'}"))
    return renders, failures


def kit_licences(licensing: Licensing, kits: list[Kit]) -> dict[str, str]:
    """kit folder -> licence from hydrogen-drumkits' copyright (by .h2drumkit name), else the kit's."""
    out = {}
    for k in kits:
        found = ""
        for stem in (k.folder, k.folder.replace(" ", "_"), k.name):
            lic, _ = licensing.lookup(f"/drumkits/{stem}.h2drumkit")
            if lic and lic != licensing.package_licence:
                found = lic
                break
        out[k.folder] = found or k.licence or licensing.package_licence
    return out


def plan(engines=ENGINES, lmms_dir: Path = LMMS_PROJECTS, hydrogen_dir: Path = HYDROGEN_DATA
         ) -> tuple[list[Render], list[dict]]:
    """Every render of ENGINES (Hydrogen first: cheap), and the project files that did not parse."""
    renders, failures = [], []
    if "hydrogen" in engines:
        kits, bad = find_kits(hydrogen_dir)
        got, bad2 = plan_hydrogen(hydrogen_dir, kits, licensing("hydrogen-data").package_licence,
                                  kit_licences(licensing("hydrogen-drumkits"), kits))
        renders += got
        failures += bad + bad2
    if "lmms" in engines:
        got, bad = plan_lmms(lmms_dir, licensing("lmms-common"))
        renders += got
        failures += bad
    return renders, failures


# ----------------------------------------------------------------------------------------------
# rendering
# ----------------------------------------------------------------------------------------------
RenderFn = Callable[[Render, Path, float], None]  # (render, wav to write, timeout in s)


def render_command(r: Render, wav: Path) -> list[str]:
    if r.engine == "lmms":
        return ["lmms", "--allowroot", "render", r.project, "-f", "wav", "-x", "1", "-o", str(wav)]
    cmd = ["h2cli", "-s", r.project, "-o", str(wav)]
    return cmd + (["-k", r.kit_folder] if r.kit_folder else [])


def run_renderer(r: Render, wav: Path, timeout_s: float) -> None:
    """Render R into WAV with its engine; the process group is killed when it overruns.
    Raises RenderError naming the render."""
    cmd = render_command(r, wav)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    except OSError as e:
        raise RenderError(f"{r.id}: {cmd[0]} could not start ({e})") from None
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RenderError(f"{r.id}: render timed out after {timeout_s:g} s") from None
    if proc.returncode != 0 or not wav.is_file() or wav.stat().st_size <= 44:
        last = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()][-1:]
        raise RenderError(f"{r.id}: {cmd[0]} exited {proc.returncode} without audio "
                          f"({(last or ['no message'])[0][:200]})")


def rendered_path(out: Path, r: Render) -> Path:
    return Path(out) / "renders" / r.engine / f"{r.name}.flac"


def render_one(r: Render, out: Path, render_fn: RenderFn, timeout_s: float) -> dict:
    """Render R, decode to SR mono and keep it as OUT/renders/ENGINE/NAME.flac (atomically).
    Returns its log entry; a failure is returned, not raised."""
    import soundfile as sf
    t0 = time.time()
    dst = rendered_path(out, r)
    dst.parent.mkdir(parents=True, exist_ok=True)
    entry = {"id": r.id, "status": "ok", "error": ""}
    with tempfile.TemporaryDirectory(dir=Path(out), prefix=".render-") as tmp:
        wav = Path(tmp) / f"{r.name}.wav"
        try:
            render_fn(r, wav, timeout_s)
            y = decode_mix([str(wav)])                    # (n,)
            if not np.max(np.abs(y)) >= SILENT_PEAK:
                raise RenderError(f"{r.id}: the render is silent (peak below -60 dBFS)")
        except (RenderError, AudioError, RuntimeError, OSError) as e:
            entry.update(status="failed", error=str(e)[:300])
        else:
            part = Path(tmp) / "part.flac"
            sf.write(part, y, SR, subtype="PCM_16", format="FLAC")
            os.replace(part, dst)
            entry["seconds"] = round(len(y) / SR, 2)
    entry["wall_s"] = round(time.time() - t0, 1)
    return entry


def read_log(path: Path) -> dict[str, dict]:
    """id -> latest entry of OUT/render_log.jsonl (a torn last line is ignored)."""
    entries = {}
    if Path(path).is_file():
        for line in Path(path).read_text().splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            entries[e["id"]] = e
    return entries


def render_all(renders: list[Render], out: Path, render_fn: RenderFn = run_renderer,
               jobs: int = 1, timeout_s: float = RENDER_TIMEOUT_S,
               max_seconds: float | None = None, retry_failed: bool = False) -> dict:
    """Render what is not rendered yet. Returns {"rendered", "skipped", "failed", "pending"}."""
    log_path = Path(out) / "render_log.jsonl"
    known = read_log(log_path)
    done = [r for r in renders if rendered_path(out, r).is_file()]
    failed_before = [r for r in renders if r not in done and not retry_failed
                     and known.get(r.id, {}).get("status") == "failed"]
    todo = [r for r in renders if r not in done and r not in failed_before]
    log(f"{len(renders)} renders: {len(done)} done, {len(failed_before)} failed before, "
        f"{len(todo)} to render")
    t0 = time.time()
    result = {"rendered": [], "skipped": [r.id for r in done], "failed": [], "pending": []}

    def keep(entry: dict) -> None:
        with open(log_path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")
        key = "rendered" if entry["status"] == "ok" else "failed"
        result[key].append(entry["id"])
        log(f"failed: {entry['error']}" if entry["error"] else
            f"{entry['id']}: rendered {entry['seconds']:.0f} s in {entry['wall_s']:.0f} s")

    def budget_left() -> bool:
        return max_seconds is None or time.time() - t0 < max_seconds

    with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        running: set[cf.Future] = set()
        for r in todo:
            while len(running) >= max(1, jobs):
                finished, running = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for f in finished:
                    keep(f.result())
            if not budget_left():
                result["pending"].append(r.id)
                continue
            running.add(ex.submit(render_one, r, Path(out), render_fn, timeout_s))
        for f in cf.as_completed(running):
            keep(f.result())
    result["failed"] += [r.id for r in failed_before]
    return result


# ----------------------------------------------------------------------------------------------
# excerpts, splits, captions
# ----------------------------------------------------------------------------------------------
def cut_excerpts(renders: list[Render], out: Path, jobs: int = 1) -> dict[str, dict]:
    """id -> excerpts.excerpt_job result for every finished render (cached in
    OUT/features.jsonl, so a re-run analyses nothing)."""
    cache = Path(out) / CACHE_NAME
    results = read_cache(Path(out))
    jobs_ = [{"out": str(out), "paths": [str(rendered_path(out, r))], "package": r.engine,
              "name": r.name, "key": r.id, "trim_loop": True} for r in renders if rendered_path(out, r).is_file()]
    todo = [j for j in jobs_ if j["key"] not in results]
    log(f"{len(jobs_)} renders to excerpt, {len(todo)} not analysed yet")

    common.run_jobs(excerpt_job, todo, jobs, common.keep_in(results, cache, "key"), "key",
                    lambda n, total: log(f"{n}/{total} renders analysed"))
    return {j["key"]: results[j["key"]] for j in jobs_}


def bpm_words(tempo: float | None) -> str:
    return f"{tempo:g} bpm" if tempo else ""


def texts_for(r: Render) -> list[str]:
    """The captions of a render from what is known about it (no audio analysis)."""
    at = f", at {bpm_words(r.tempo)}" if r.tempo else ""
    by = f" by {r.author}" if r.author else ""
    if r.engine == "lmms":
        kind = "short demo" if r.folder == "shorties" else "demo song"
        lead = f"{r.style} {kind}" if r.style else kind
        texts = [f"{with_article(lead, cap=True)} made in LMMS, '{r.title}'{by}{at}.",
                 f"'{r.title}'{by}, music produced in the LMMS digital audio workstation."]
        if r.style:
            texts.append(f"{r.style} music" + (f" at {bpm_words(r.tempo)}" if r.tempo else ""))
        return texts
    kit = f"the {r.kit} kit" if r.kit else "a sampled drum kit"
    texts = [f"A drum pattern played on {kit}, from the Hydrogen demo song '{r.title}'{at}.",
             f"Drums only: '{r.title}'{by} on {kit}."]
    if r.tempo:
        texts.append(f"a drum beat at {bpm_words(r.tempo)}")
    return texts


def subject(r: Render) -> str:
    if r.engine == "hydrogen":
        return "drum music"
    return f"{r.style} music" if r.style else "electronic music"


def make_rows(r: Render, res: dict, split: str, seed: int) -> list[dict]:
    import random
    rows = []
    base = texts_for(r)
    for ex in res["excerpts"]:
        feats = mood.Features(**ex["features"])
        key = f"{seed}-{ex['path']}"
        words = mood.mood_words(feats, known_tempo=r.tempo)
        texts = list(dict.fromkeys(base + mood.mood_texts(feats, known_tempo=r.tempo,
                                                          subject=subject(r), seed=key)))
        main = texts[0] if random.Random(key).random() < 0.5 else random.Random(key).choice(texts)
        attrs = mood.attributes(feats)
        rows.append({
            "id": ex["path"], "path": ex["path"], "text": main,
            "texts": " | ".join(t for t in texts if t != main), "genre": r.genre,
            "style": r.style or ("drum pattern" if r.engine == "hydrogen" else "electronic"),
            "split": split, "source": "renders", "package": PACKAGES[r.engine],
            "engine": r.engine, "track": r.id, "group": r.group, "title": r.title,
            "artist": r.author, "kit": r.kit, "project_file": r.project,
            "offset_s": ex["offset_s"], "duration_s": CLIP_S, "licence": r.licence,
            "tempo": r.tempo or "", "mood_tags": ";".join(w for w in words if w in MTT_MOOD),
            "tempo_est": round(feats.tempo, 1) if attrs["pace"] or feats.tempo_confidence
            >= mood.TEMPO_MIN_CONF else "",
            "key_est": feats.key if attrs["mode"] else "",
            "rms_db": round(feats.rms_db, 1), "centroid_hz": round(feats.centroid_hz),
            "loop_s": res.get("loop_s") or "",
        })
    return rows


def assemble(out: Path, renders: list[Render], results: dict[str, dict], seed: int) -> dict:
    """Dedup by audio hash, split by song, caption and write OUT/captions.csv. Returns the
    summary's body (per engine, duplicates, excerpt errors)."""
    splits = assign_splits(groups_by(renders, "engine"), seed)
    by_hash: dict[str, str] = {}
    rows, duplicates, errors, empty, per_engine = [], [], [], [], {}
    for r in renders:
        res = results.get(r.id)
        if res is None:
            continue
        if res.get("error"):
            errors.append({"id": r.id, "error": res["error"]})
            continue
        if res["hash"] in by_hash:
            duplicates.append({"id": r.id, "same_as": by_hash[res["hash"]]})
            continue
        by_hash[res["hash"]] = r.id
        new = make_rows(r, res, splits[r.group], seed)
        if not new:
            empty.append({"id": r.id, "why": "every excerpt silent or too short",
                          "rendered_s": res["decoded_s"]})
        rows += new
        e = per_engine.setdefault(r.engine, {"renders": 0, "rendered_hours": 0.0, "excerpts": 0,
                                             "train": 0, "test": 0, "test_groups": []})
        e["renders"] += 1
        e["rendered_hours"] += res["decoded_s"] / 3600
        e["excerpts"] += len(new)
        e[splits[r.group]] += len(new)
        if splits[r.group] == "test" and r.group not in e["test_groups"]:
            e["test_groups"].append(r.group)
    for e in per_engine.values():
        e["rendered_hours"] = round(e["rendered_hours"], 3)
        e["excerpt_hours"] = hours(e["excerpts"])
    rows.sort(key=lambda x: x["path"])
    write_csv(Path(out) / "captions.csv", RENDERS_COLUMNS, rows)
    return {"engines": per_engine, "excerpts": len(rows), "hours": hours(len(rows)),
            "split_totals": {x: sum(1 for r in rows if r["split"] == x) for x in ("train", "test")},
            "duplicates_dropped": duplicates, "excerpt_errors": errors, "no_excerpts": empty}


# ----------------------------------------------------------------------------------------------
# the build
# ----------------------------------------------------------------------------------------------
def build(out: str | Path, renders: list[Render], plan_failures: list[dict] | None = None,
          render_fn: RenderFn = run_renderer, seed: int = 0, jobs: int = 1,
          timeout_s: float = RENDER_TIMEOUT_S, max_seconds: float | None = None,
          retry_failed: bool = False) -> dict:
    """Render, excerpt, split and caption RENDERS into OUT (see the module docstring)."""
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    status = render_all(renders, out, render_fn, jobs, timeout_s, max_seconds, retry_failed)
    results = cut_excerpts(renders, out, jobs)
    body = assemble(out, renders, results, seed)
    entries = read_log(out / "render_log.jsonl")
    failures = list(plan_failures or []) + [
        {"id": i, "project": next(r.project for r in renders if r.id == i),
         "error": entries.get(i, {}).get("error", "")} for i in status["failed"]]
    summary = {
        "command": command_line("muser_train.corpus.renders", None), "seed": seed,
        "planned": len(renders), "rendered_now": status["rendered"],
        "rendered_before": len(status["skipped"]), "failures": failures,
        "pending": status["pending"],
        "kit_variants": {g: [r.kit for r in renders if r.group == g]
                         for g in dict.fromkeys(r.group for r in renders if r.engine == "hydrogen")},
        **body,
        "render_wall_s": round(sum(e.get("wall_s", 0) for e in entries.values()), 1),
        "clip_seconds": CLIP_S, "sample_rate": SR, "format": "FLAC 16-bit mono",
        "elapsed_s": round(time.time() - t0, 1),
    }
    write_json(out / "summary.json", summary)
    return summary


MANIFEST_NAME = "renders_manifest.csv"


def export_manifest(out: Path, data_dir: Path = DATA_DIR) -> Path:
    """OUT/captions.csv copied to DATA_DIR/renders_manifest.csv (atomically), for committing."""
    return common.export_manifest(out, MANIFEST_NAME, data_dir)


def main(argv=None) -> int:
    ap = common.corpus_parser(__doc__, jobs=1)
    ap.add_argument("--engines", nargs="*", default=list(ENGINES), choices=list(ENGINES))
    ap.add_argument("--timeout", type=float, default=RENDER_TIMEOUT_S,
                    help="seconds one render may take before it is killed and listed as failed")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="start no new render after this many seconds (a re-run does the rest)")
    ap.add_argument("--retry-failed", action="store_true",
                    help="render again what failed in an earlier run")
    ap.add_argument("--export", action="store_true",
                    help=f"copy OUT/captions.csv to train/corpus/data/{MANIFEST_NAME}")
    args = ap.parse_args(argv)
    renders, plan_failures = plan(args.engines)
    s = build(args.out, renders, plan_failures, seed=args.seed, jobs=args.jobs,
              timeout_s=args.timeout, max_seconds=args.max_seconds, retry_failed=args.retry_failed)
    if args.export:
        log(f"manifest exported to {export_manifest(Path(args.out))}")
    for f in s["failures"]:
        log(f"failed: {f['error']}")
    print(json.dumps({k: s[k] for k in ("planned", "excerpts", "hours", "split_totals", "engines",
                                        "failures", "pending", "elapsed_s")}, indent=1))
    return 0 if s["excerpts"] else 1


if __name__ == "__main__":  # as `muser-train`: one error line and its exit code
    from muser_model.core.errors import run_main

    run_main(main)
