"""Calibration data for the support cut-off of cited LLM sentences (`rag/support.py`).

Hand-written sentences in the style of an LLM answer (clean Dutch, names spelled right)
that paraphrase the evidence of dev-set questions, scored against the fragment retrieval
returns for the evidence ("right"), against another retrieved fragment for the same
question at least 300 characters away ("wrong": a wrong citation on a related topic),
and invented details on the right topic against the right fragment ("invent").

    .venv/bin/python eval/support_calibration.py     # needs the index of data/transcripts

Prints the sorted scores per kind, and the pairs near the cut-off.
"""

# ruff: noqa: E501  (the calibration sentences are data)
from __future__ import annotations

import json
import statistics
from pathlib import Path

from rag.service import AnswerService
from rag.settings import Settings
from rag.support import SUPPORTED, SupportScorer

DEV = Path(__file__).resolve().parent / "dev.jsonl"

CLAIMS = {
    "q001": [
        "NotebookLM vond het belangrijk om de stellige uitspraak over 1300 sterfgevallen te nuanceren.",
        "De lezer moet worden geïnformeerd over de onzekerheden en beperkingen van die schatting.",
    ],
    "q003": [
        "ASML speelt een rol in de geopolitieke discussie over de vraag of het aan China mag leveren."
    ],
    "q004": [
        "DeepSeek zegt dat het model is getraind voor 5,5 miljoen dollar aan huurkosten van gpu's."
    ],
    "q006": ["Dept ontwikkelde Signs samen met Nvidia en de American Society for Deaf Children."],
    "q008": [
        "Wietse gebruikt Claude bijna altijd om te brainstormen en om te controleren of een tekst logisch loopt."
    ],
    "q009": [
        "Bij mixture of experts is het model getraind als allemaal losse kleine modellen die samen in één geheel geschakeld zijn."
    ],
    "q010": [
        "Bij de New York Times mag AI niet worden gebruikt om artikelen helemaal te schrijven of ingrijpend te herzien.",
        "Ook genereren ze geen afbeeldingen of video's met AI.",
    ],
    "q015": ["Quantisatie betekent dat je de precisie van de informatie in het model vermindert."],
    "q025": [
        "Rick vindt dat DeepSeek R1 ten opzichte van Llama 3 vooral aanvoelt als incrementele innovatie."
    ],
    "q026": ["Alexander is er niet omdat het kindervakantie is en hij kinderen heeft."],
    "q029": [
        "Op dit moment is het nog gevaarlijk om AI als bron te gebruiken; het voelt als Wikipedia aanhouden als referentie."
    ],
    "q030": ["Sam Hengeveld deed de edit van deze aflevering."],
    "q034": ["Groq met een q maakt processoren, terwijl Grok met een k een AI-model is."],
    "q044": ["Groq ontwikkelt al sinds 2016 chips, een jaar voordat de Transformer-paper uitkwam."],
    "q048": [
        "Rick wijst op de democratie, een progressief belastingstelsel en vormen van een minimumbestaan."
    ],
    "q055": [
        "Op een Mac mini van 600 euro kun je DeepSeek R1 niet draaien, omdat die niet genoeg geheugen heeft."
    ],
    "q056": [
        "In Europa vindt men het lastiger om risico te nemen en kapitaal te investeren zonder zekerheid dat het lukt."
    ],
    "q058": [
        "Open weights modellen mogen zonder licentiekosten op andermans infrastructuur draaien, en Rick vindt dat persoonlijk geweldig."
    ],
    "q065": [
        "Wietse vergelijkt het met een pianist die muziekstukken uit zijn hoofd kent en een pianist die heel goed bladmuziek kan lezen."
    ],
    "q073": [
        "Je krijgt de pretraining-data niet; volgens Rick gaat het om ongeveer 14 biljoen tokens."
    ],
    "q076": [
        "Sam Altman zei dat zelfs het prijspunt van 200 dollar niet genoeg was om de kosten te dekken."
    ],
    "q081": [
        "Volgens de professor is het draaien zo kostbaar omdat alle feitenkennis in het model wordt gepropt en alles in het geheugen moet staan."
    ],
    "q088": [
        "Wietse vindt het verhaal wholesome omdat het gaat om medicijnen en nieuwe behandelmethoden ontwikkelen."
    ],
    "p1_004": [
        "Wietse raadt de video The Most Useful Thing AI Has Ever Done van Veritasium op YouTube aan."
    ],
    "p1_008": [
        "Van 1977 tot 2016 werden er nauwelijks resultaten geboekt bij het voorspellen van eiwitvormen, en toen was het ineens opgelost."
    ],
    "p1_010": [
        "Vertrouwelijke bronnen mogen bij de New York Times niet in AI-systemen worden ingevoerd, om die bronnen te beschermen."
    ],
    "p1_020": ["xAI is pas twee jaar oud en scoort toch goed op belangrijke benchmarks."],
    "p1_022": [
        "Met 20 softwareontwikkelaars kan een project langer duren dan tien maanden, omdat ze ook moeten overleggen en mailen."
    ],
    "p1_027": [
        "Volgens Wietse gaan OpenAI, Anthropic, Mistral en DeepSeek allemaal door met opschalen en nieuwe trucs uitvinden."
    ],
    "p1_029": [
        "Grok zit in X, maar er komt ook een losse Grok-app en website, zoals bij ChatGPT en Claude."
    ],
}
# Invented details on the right topic, cited against the right fragment.
INVENTED = {
    "q004": "DeepSeek trainde het model in twee weken op 10.000 H100-kaarten van Nvidia.",
    "q003": "ASML heeft vorig jaar een exportvergunning gekregen voor nieuwe EUV-machines naar Japan.",
    "q044": "Groq haalde in 2021 een investering van 300 miljoen dollar op bij Tiger Global.",
    "q055": "Met 64 GB werkgeheugen draait de kleinste distillatie van R1 prima op een MacBook Pro.",
    "q030": "De muziek van de podcast is gecomponeerd door een Amsterdamse band.",
    "q073": "Meta publiceert wel de volledige trainingsdata van Llama, inclusief de gebruikte boeken.",
    "q076": "OpenAI verhoogt het abonnement volgend jaar naar 500 dollar per maand voor bedrijven.",
    "q010": "De Washington Post laat journalisten juist wel samenvattingen schrijven met Gemini.",
    "p1_020": "Elon Musk investeerde zes miljard dollar van Tesla in het datacenter van xAI.",
    "q065": "Een violist die improviseert laat zien hoe creativiteit in neurale netwerken ontstaat.",
}


def main() -> None:
    svc = AnswerService(Settings(_env_file=None, context_words=3000))
    assert svc.load(), "build the index first: aireport index"
    scorer = SupportScorer()
    items = {d["id"]: d for d in map(json.loads, DEV.read_text(encoding="utf-8").splitlines())}
    rows = []
    for qid, claims in CLAIMS.items():
        item = items[qid]
        retrieval = svc.retrieve(item["question"])
        offset, evidence = item["offset"][0], item["evidence"][0]
        middle = offset + len(evidence) // 2

        def covers(f, middle=middle) -> bool:
            return f.chunk.start_char <= middle <= f.chunk.end_char

        def far(f, offset=offset, evidence=evidence) -> bool:
            return (
                f.chunk.end_char < offset - 300 or f.chunk.start_char > offset + len(evidence) + 300
            )

        right = [f for f in retrieval.fragments if covers(f)]
        wrong = [f for f in retrieval.fragments if not covers(f) and far(f)]
        if not right:
            print(f"{qid}: evidence not retrieved, skipped")
            continue

        def source(f):
            return scorer.source(f"{f.episode.title}\n{f.chunk.text}")

        for claim in claims:
            rows.append(("right", qid, scorer.score(claim, [source(right[0])]), claim))
            if wrong:
                rows.append(("wrong", qid, scorer.score(claim, [source(wrong[0])]), claim))
        if qid in INVENTED:
            claim = INVENTED[qid]
            rows.append(("invent", qid, scorer.score(claim, [source(right[0])]), claim))
    for kind in ("right", "wrong", "invent"):
        scores = sorted(r[2] for r in rows if r[0] == kind and r[2] is not None)
        below = sum(s < SUPPORTED for s in scores)
        print(
            f"{kind:<6} n={len(scores):>2} median={statistics.median(scores):.2f} "
            f"below {SUPPORTED}: {below:>2}  {[round(s, 2) for s in scores]}"
        )
    print("near the cut-off:")
    for kind, qid, score, claim in rows:
        if score is not None and abs(score - SUPPORTED) <= 0.1:
            print(f"  {kind:<6} {qid:<7} {score:.2f} {claim}")


if __name__ == "__main__":
    main()
