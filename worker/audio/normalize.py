"""Reading numbers, dates, units, money and abbreviations naturally (pure).

Both engines misread some written forms: "U.S." ends a sentence for gTTS's tokenizer, "km"
is spelled out letter by letter, "UAH 200" is read as a word. These rules rewrite them into
what a newsreader would say, per language.
"""

from __future__ import annotations

import re
from datetime import date

_MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "uk": [
        "січня",
        "лютого",
        "березня",
        "квітня",
        "травня",
        "червня",
        "липня",
        "серпня",
        "вересня",
        "жовтня",
        "листопада",
        "грудня",
    ],
}
_MONTH_ABBR = {m[:3].lower(): m for m in _MONTHS["en"]} | {"sept": "September"}

_EN_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bU\.S\.A\.(?=\s|$|[,;:])"), "USA"),
    (re.compile(r"\bU\.S\.(?=\s+[a-z])"), "US"),  # mid-sentence: the period is not a stop
    (re.compile(r"\bU\.S\.(?=\s|$)"), "US."),
    (re.compile(r"\bU\.S\.(?=[,;:)])"), "US"),
    (re.compile(r"\bU\.K\.(?=\s|$|[,;:])"), "UK"),
    (re.compile(r"\bU\.N\.(?=\s|$|[,;:])"), "UN"),
    (re.compile(r"\bE\.U\.(?=\s|$|[,;:])"), "EU"),
    (re.compile(r"\be\.g\.", re.IGNORECASE), "for example"),
    (re.compile(r"\bi\.e\.", re.IGNORECASE), "that is"),
    (re.compile(r"\betc\."), "et cetera"),
    (re.compile(r"\bvs?\.\s"), "versus "),
    (re.compile(r"(\d)\s*km/h\b"), r"\1 kilometres per hour"),
    (re.compile(r"(\d)\s*km²"), r"\1 square kilometres"),
    (re.compile(r"(\d)\s*sq\.?\s*km\b"), r"\1 square kilometres"),
    (re.compile(r"\b1\s*km\b"), "1 kilometre"),
    (re.compile(r"(\d)\s*km\b"), r"\1 kilometres"),
    (re.compile(r"(\d)\s*kg\b"), r"\1 kilograms"),
    (re.compile(r"(\d)\s*MW\b"), r"\1 megawatts"),
    (re.compile(r"(\d)\s*GW\b"), r"\1 gigawatts"),
    (re.compile(r"(\d)\s*°C\b"), r"\1 degrees Celsius"),
    (re.compile(r"(\d[\d,.]*)\s*(?:UAH|hryvnias?)\b"), r"\1 hryvnias"),
    (re.compile(r"\bUAH\s*(\d[\d,.]*(?:\s*(?:million|billion|thousand))?)"), r"\1 hryvnias"),
    (re.compile(r"₴\s*(\d[\d,.]*(?:\s*(?:million|billion|thousand))?)"), r"\1 hryvnias"),
    (re.compile(r"€\s*(\d[\d,.]*(?:\s*(?:million|billion|thousand))?)"), r"\1 euros"),
    (re.compile(r"\$\s*(\d[\d,.]*(?:\s*(?:million|billion|thousand))?)"), r"\1 dollars"),
    (re.compile(r"(\d)\s*%"), r"\1 percent"),
    (re.compile(r"(\d)\s*bln\b"), r"\1 billion"),
    (re.compile(r"(\d)\s*mln\b"), r"\1 million"),
    (re.compile(r"(\d)\s*[–—]\s*(\d)"), r"\1 to \2"),  # ranges: 2022–2024
    (re.compile(r"\bNo\.\s*(\d)"), r"number \1"),
    (re.compile(r"\bGen\.\s"), "General "),
    (re.compile(r"\bLt\.\s"), "Lieutenant "),
    (re.compile(r"\bCol\.\s"), "Colonel "),
    (re.compile(r"\bSen\.\s"), "Senator "),
    (re.compile(r"\bRep\.\s"), "Representative "),
    (re.compile(r"\bPres\.\s"), "President "),
    (re.compile(r"\bGov\.\s"), "Governor "),
    (re.compile(r"\bSt\.\s(?=[A-Z])"), "Saint "),
]
_UK_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(\d)\s*км/год"), r"\1 кілометрів на годину"),
    (re.compile(r"(\d)\s*км\b"), r"\1 кілометрів"),
    (re.compile(r"(\d)\s*кг\b"), r"\1 кілограмів"),
    (re.compile(r"(\d)\s*(?:грн|UAH)\.?(?=\s|$|[,;:])"), r"\1 гривень"),
    (re.compile(r"(\d)\s*млрд\b\.?"), r"\1 мільярдів"),
    (re.compile(r"(\d)\s*млн\b\.?"), r"\1 мільйонів"),
    (re.compile(r"(\d)\s*тис\b\.?"), r"\1 тисяч"),
    (re.compile(r"(\d)\s*%"), r"\1 відсотків"),
    (re.compile(r"(\d)\s*[–—]\s*(\d)"), r"\1 – \2"),
    (re.compile(r"\bт\.\s?зв\."), "так званий"),
    (re.compile(r"\bт\.\s?д\."), "тощо"),
    (re.compile(r"\bСША\b"), "Сполучені Штати"),
    (re.compile(r"\bЗСУ\b"), "Збройні сили України"),
]
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_EN_MONTH_DAY = re.compile(r"\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.\s+(\d{1,2})\b")
_THOUSANDS = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+)(?![\d,])")


def _iso_date(match: re.Match[str], language: str) -> str:
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return match[0]
    return spoken_date(day, language)


def spoken_date(day: date, language: str) -> str:
    if language == "uk":
        return f"{day.day} {_MONTHS['uk'][day.month - 1]} {day.year} року"
    return f"{day.day} {_MONTHS['en'][day.month - 1]} {day.year}"


def normalize(text: str, language: str) -> str:
    """Rewrite what engines misread: dates, units, currency, abbreviations."""
    text = text.replace("\u00a0", " ").replace("\u202f", " ")
    text = _ISO_DATE.sub(lambda m: _iso_date(m, language), text)
    if language == "uk":
        for pattern, repl in _UK_RULES:
            text = pattern.sub(repl, text)
        text = re.sub(r"(\d) (\d{3})\b", r"\1\2", text)  # "10 000" is one number
    else:
        text = _EN_MONTH_DAY.sub(lambda m: f"{_MONTH_ABBR[m[1].lower()]} {m[2]}", text)
        for pattern, repl in _EN_RULES:
            text = pattern.sub(repl, text)
        text = _THOUSANDS.sub(lambda m: m[1].replace(",", ""), text)  # 1,250 → 1250
    return " ".join(text.split())
