"""gTTS speed: our engine vs stock `gTTS(...).save()`, both against the local batchexecute emulator.

A 6,000-character article, 100 ms of latency per request (roughly Google's). Stock gTTS sends its
chunks one after another, each on a new connection; ours sends them concurrently over one
keep-alive pool (GTTS_CONCURRENCY, default settings otherwise), joins and tags the MP3. Then the
unchanged article is spoken again (must make 0 requests) and one paragraph is edited (must request
only that paragraph's chunks). Both sides of the ratio make an MP3 of Google's raw chunks; the
podcast mastering that follows in production (decode, 44.1 kHz, -16 LUFS under -1 dBTP, encode,
verify) is timed on its own, per minute of audio, and so is the neural offline voice (its
real-time factor, one thread) when the `neural` extra is installed.
Prints times, request counts and, last, `ratio: ours/stock`.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gtts.tts
import numpy as np
from gtts import gTTS

from tests.audio.gtts_emulator import serve_in_process
from worker.audio import engines, loudness, master, mp3, neural, pcm
from worker.audio.gtts_engine import GttsEngine, Spoken, tokenize_text
from worker.audio.text import prepare
from worker.ratelimit import LocalTokenBucket
from worker.settings import Settings
from worker.storage import LocalStorage

LATENCY = 0.1

PARAGRAPHS = [
    "Engineers in the capital worked through the night to restore power after a large attack on "
    "the energy system, the grid operator said on Thursday morning. By dawn, electricity had "
    "returned to most of the city's districts, though scheduled outages would continue in the "
    "evening when demand is highest.",
    "The operator said that several substations in the central and eastern regions had been "
    "damaged, and that repair crews were already at work. It asked households to limit the use of "
    "heaters, kettles and washing machines between five and ten in the evening, and to charge "
    "phones and power banks during the day.",
    "Hospitals switched to backup generators for several hours, the health ministry said. No "
    "patients were harmed, and planned operations went ahead after a short delay. Schools in two "
    "districts moved lessons online for the day, and the city's metro ran on a reduced schedule "
    "until noon.",
    "The city administration opened more than a thousand heating points, where residents can "
    "warm up, drink tea and charge their devices. Volunteers brought blankets and hot food to the "
    "points in the outer districts, where the outages lasted longest and the temperature fell "
    "below freezing overnight.",
    "Economists warned that repeated strikes on the grid would weigh on growth this winter, as "
    "factories cut shifts and small businesses bought generators instead of investing. Several "
    "large companies said they had installed their own solar panels and batteries over the summer, "
    "and that this had kept their production lines running.",
    "Partners abroad pledged new equipment for the repairs, including transformers and mobile "
    "gas turbines. The first deliveries are expected before the end of the month, the energy "
    "minister said, adding that the country had learned to rebuild faster with every winter and "
    "that spare parts were now stored in many places.",
    "In the suburbs, residents described a long night without light or heat. Many said they had "
    "prepared in advance, with candles, torches, warm clothes and water stored in bottles. Local "
    "shops stayed open by the light of phone screens, and neighbours shared generators to keep "
    "refrigerators running.",
    "Rail services between the capital and the west of the country ran with delays of up to two "
    "hours, the railway company said, as some lines were switched to diesel locomotives. Trains "
    "to the border kept running, and passengers were offered hot drinks at the larger stations.",
    "Water supply was interrupted in three districts on the left bank, where pumping stations "
    "lost power. Utility workers brought mobile generators to the stations, and water returned to "
    "the taps in the afternoon, although the pressure on the upper floors stayed low overnight.",
    "Mobile operators said their networks had held up better than last winter, thanks to new "
    "batteries at base stations. Some areas still lost coverage for an hour or two, and the "
    "operators advised customers to keep messages short and to use messengers over voice calls.",
    "Farmers in the south said the outages had hit grain dryers and storage facilities at the end "
    "of a late harvest. Several cooperatives shared equipment and fuel, and the regional "
    "administration promised to compensate part of the cost of the generators they had rented.",
    "The parliament's energy committee met in an emergency session in the afternoon and called on "
    "the government to speed up the construction of protective structures around key substations. "
    "Members also discussed tax breaks for households that install rooftop solar panels.",
    "Cultural institutions adapted as well. The opera house held its evening performance by the "
    "light of a generator, and museums extended their opening hours at weekends, offering warm "
    "rooms, exhibitions and concerts to visitors who had spent the day without electricity.",
    "Psychologists said that routine and community help people cope with the stress of the long "
    "nights. They advised families to plan the evening hours in advance, to spend time with "
    "neighbours, and to keep children busy with games, books and drawing by torchlight.",
    "International organisations said they would expand their winter programmes, delivering "
    "heaters, fuel and warm clothing to the front-line regions. Aid workers said the needs were "
    "greatest in small towns, where many older people live alone and shops close early.",
    "Small businesses in the centre said the day brought fewer customers than usual, but cafes "
    "with generators were full from the morning, as people came to work on laptops, charge their "
    "phones and meet friends. Several owners said they had doubled their stock of coffee.",
    "Energy experts said the country's grid was now more decentralised than before the war, with "
    "thousands of small generating units that are harder to knock out at once. They called for "
    "faster permits for new units and for clear rules for selling their power to the grid.",
    "The grid operator thanked its engineers, many of whom had worked around the clock for days. "
    "It said it would publish a full report on the damage once the repairs were complete, and "
    "that the schedule of outages would be reviewed every evening until the situation improved.",
    "Students at the main university held their exams in the library's basement, which has its "
    "own generator and a shelter. Lecturers said attendance was higher than expected, and that "
    "many students preferred to study together rather than alone at home in the dark and cold.",
    "Drivers queued at petrol stations in the morning as some pumps stood idle without power. "
    "The larger chains said their stations were equipped with generators and that there was no "
    "shortage of fuel, urging motorists not to buy more than they needed for the coming days.",
    "Residents of high-rise buildings were asked to avoid lifts during the hours of scheduled "
    "outages. Building managers placed water, snacks and torches inside some lifts, in case people "
    "were trapped between floors, and posted the phone numbers of the emergency services.",
    "Forecasters expect colder weather next week, which will raise demand for electricity further. "
    "The grid operator said it was ready, but asked for patience and for careful use of power in "
    "the evening. Updates on the schedule of outages are published every morning on its website "
    "and in its app, it said.",
]


class RemoteEmulator:
    """The emulator in its own process, read through its /__stats and /__reset endpoints."""

    def __init__(self, latency: float) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(
            target=serve_in_process, args=(latency, child), daemon=True
        )
        self.process.start()
        self.url: str = self.conn.recv()
        self.base = self.url.split("/_/")[0]

    def _stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base}/__stats", timeout=10) as answer:
            stats: dict[str, Any] = json.load(answer)
        return stats

    @property
    def requests(self) -> int:
        return int(self._stats()["requests"])

    @property
    def connections(self) -> int:
        return int(self._stats()["connections"])

    @property
    def received(self) -> list[str]:
        return list(self._stats()["received"])

    def reset_counts(self) -> None:
        urllib.request.urlopen(
            urllib.request.Request(f"{self.base}/__reset", data=b"", method="POST"), timeout=10
        ).close()

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(timeout=10)


def mastering_line(label: str, spoken: Spoken, engine_wall: float) -> None:
    """What podcast mastering costs per minute of audio, wall and CPU (one process)."""
    settings = master.Mastering()
    started, cpu = time.perf_counter(), time.process_time()
    track = master.master(spoken, settings)
    first = time.perf_counter() - started
    encoded = master.encode(track, settings)
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    minutes = encoded.duration / 60
    print(
        f"mastering {encoded.duration:.1f} s of {label} to {encoded.levels.lufs:.2f} LUFS, "
        f"{encoded.levels.true_peak_dbtp:.2f} dBTP, {settings.bitrate_kbps} kbit/s: {wall:.2f} s "
        f"({wall / minutes:.2f} s per minute of audio, CPU {used / minutes:.2f} s/min; decode + "
        f"resample + normalize {first:.2f} s, encode + verify {wall - first:.2f} s)"
    )
    clips, rate = master.chunk_samples(spoken)
    raw = pcm.resample(np.concatenate(clips), rate, master.OUTPUT_RATE)
    started, cpu = time.perf_counter(), time.process_time()
    loudness.normalize(raw, master.OUTPUT_RATE, settings.target_lufs, settings.ceiling_dbtp - 0.5)
    alone, alone_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"  of which normalization (BS.1770 loudness + true-peak limiter) {alone / minutes:.2f} s "
        f"per minute of audio (CPU {alone_cpu / minutes:.2f} s/min); "
        f"the voice plus mastering: {engine_wall + wall:.3f} s"
    )


def neural_line(text: str) -> None:
    if not neural.installed():
        print("neural voice: not installed (pip install 'digestcast[neural]')")
        return
    neural.synthesize("Warm up.")  # the model loads once per process
    speech = prepare("Bench", f"<p>{text}</p>".replace("\n\n", "</p><p>"), "en")
    plan = speech.plan(lambda t: tokenize_text(t, "en"))
    started, cpu = time.perf_counter(), time.process_time()
    spoken = engines.speak_neural(plan)
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    seconds = sum(len(c) for chunks in spoken.paragraphs for c in chunks) / 2 / neural.SAMPLE_RATE
    print(
        f"neural voice (hibari, one thread): {seconds:.1f} s of speech in {wall:.2f} s, "
        f"real-time factor {wall / seconds:.4f} ({seconds / wall:.0f}x real time, CPU {used:.2f} s)"
    )
    mastering_line("neural speech", spoken, wall)  # real speech: the limiter has work to do


def main() -> None:
    text = "\n\n".join(PARAGRAPHS)
    emulator = RemoteEmulator(LATENCY)
    work = Path(tempfile.mkdtemp(prefix="bench-tts-"))
    try:
        print(f"article: {len(text)} characters, {len(PARAGRAPHS)} paragraphs")
        print(f"emulator: {emulator.url} latency {LATENCY * 1000:.0f} ms per request")

        # stock gTTS: route its URL builder to the emulator (benchmark only)
        original = gtts.tts._translate_url
        gtts.tts._translate_url = lambda tld="com", path="": emulator.url
        try:
            emulator.reset_counts()
            started = time.perf_counter()
            gTTS(text, lang="en").save(str(work / "stock.mp3"))
            stock = time.perf_counter() - started
        finally:
            gtts.tts._translate_url = original
        stock_requests, stock_connections = emulator.requests, emulator.connections
        print(
            f"stock gTTS save(): {stock:.3f} s, {stock_requests} requests, "
            f"{stock_connections} connections"
        )

        settings = Settings(gtts_endpoint=emulator.url, data_dir=work / "data")
        storage = LocalStorage(settings.data_dir)

        def ours(paragraphs: list[str]) -> tuple[float, int, int]:
            emulator.reset_counts()
            limiter = LocalTokenBucket(settings.gtts_rate_per_second, settings.gtts_burst)
            started = time.perf_counter()
            with GttsEngine(settings, storage, limiter=limiter) as engine:
                spoken = engine.speak(paragraphs, "en")
            joined = mp3.join([c for chunks in spoken.paragraphs for c in chunks])
            data = mp3.tag(joined.data, mp3.Tags("Bench", "Ukraine Daily", "bench"))
            (work / "ours.mp3").write_bytes(data)
            return time.perf_counter() - started, spoken.requests, emulator.connections

        wall, requests, connections = ours(PARAGRAPHS)
        print(
            f"digestcast gTTS engine: {wall:.3f} s, {requests} requests, {connections} "
            f"connections (concurrency {settings.gtts_concurrency}), joined + tagged MP3 "
            f"{mp3.probe((work / 'ours.mp3').read_bytes()).duration:.1f} s of audio"
        )
        rerun, rerun_requests, _ = ours(PARAGRAPHS)
        print(f"rerun, unchanged article: {rerun:.3f} s, {rerun_requests} requests")
        edited = [*PARAGRAPHS]
        edited[3] = edited[3].replace("more than a thousand", "about 1,300")
        with GttsEngine(settings, None) as engine:
            expected = len(engine.tokenize(edited[3], "en"))
        edit, edit_requests, _ = ours(edited)
        print(
            f"rerun, one paragraph edited: {edit:.3f} s, {edit_requests} requests "
            f"(that paragraph has {expected} chunks; only changed chunks are sent)"
        )
        changed = set(emulator.received)
        with GttsEngine(settings, None) as engine:
            own_chunks = set(engine.tokenize(edited[3], "en"))
        # chunk-level cache: only the changed chunks of that paragraph are requested
        ok = rerun_requests == 0 and 0 < edit_requests <= expected and changed <= own_chunks
        print(f"cache: {'ok' if ok else 'FAILED'}")
        with GttsEngine(settings, storage, limiter=LocalTokenBucket(1000.0, 1000)) as engine:
            spoken = engine.speak(PARAGRAPHS, "en")  # all cached: no request
        mastering_line("gTTS (emulator tones)", spoken, wall)
        neural_line(text)
        print(f"ratio: {wall / stock:.3f}")
        if not ok:
            sys.exit(1)
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
