"""How short may a request be before lingua's answer is a guess? Prints JSON; never part of pass/fail.

For every sample below (short requests a family or staff member might send, in our four reply languages,
written for this bench) and every cut-off of N letters, it asks `detect_language` (the one detector the
gateway uses) about the sample's first N letters' worth of text with MIN_LETTERS lowered to 0, and counts
right, wrong and abstained (None) answers. The threshold to use is the smallest N from which wrong answers
stay under 2%: below it the gateway falls back to the form's, the directory's or the channel's language.

    .venv/bin/python bench/language_threshold.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from normalizers import email_language

SAMPLES = {
    "en": [
        "The bus did not come this morning and my daughter is still waiting at the corner",
        "My son cannot log in to his school laptop since yesterday",
        "Is school closed tomorrow because of the snow",
        "The wifi in room 204 keeps dropping during the test",
        "Please call me back about the lunch account",
        "I need a copy of my child's report card",
        "Thank you, that fixed it",
        "Who do I talk to about the bus stop change",
    ],
    "es": [
        "El autobús no pasó esta mañana y mi hija sigue esperando en la esquina",
        "Mi hijo no puede entrar a su computadora de la escuela desde ayer",
        "¿Mañana no hay clases por la nieve?",
        "El internet del salón se cae durante el examen",
        "Por favor llámenme sobre la cuenta del almuerzo",
        "Necesito una copia de las calificaciones de mi hijo",
        "Gracias, ya funciona",
        "¿Con quién hablo sobre el cambio de parada del autobús?",
    ],
    "vi": [
        "Xe buýt không đến sáng nay và con gái tôi vẫn đang chờ ở góc đường",
        "Con trai tôi không đăng nhập được vào máy tính của trường từ hôm qua",
        "Ngày mai trường có nghỉ vì tuyết không",
        "Mạng wifi trong phòng học bị mất khi đang làm bài kiểm tra",
        "Xin gọi lại cho tôi về tài khoản ăn trưa",
        "Tôi cần bản sao học bạ của con tôi",
        "Cảm ơn, đã được rồi",
        "Tôi hỏi ai về việc đổi trạm xe buýt",
    ],
    "zh": [
        "今天早上校车没有来，我女儿还在路口等",
        "我儿子从昨天起就登录不了学校的电脑",
        "明天因为下雪学校停课吗",
        "考试的时候教室的无线网络一直断",
        "请给我回电话，关于午餐账户的事",
        "我需要孩子成绩单的副本",
        "谢谢，已经好了",
        "校车站点改了，我应该问谁",
    ],
}
CUTOFFS = [2, 4, 6, 8, 10, 12, 16, 20, 30]


def prefix(text: str, letters: int) -> str:
    """The shortest start of `text` holding `letters` letters (what a short message of that size looks like)."""
    seen = 0
    for i, ch in enumerate(text):
        seen += ch.isalpha()
        if seen >= letters:
            return text[: i + 1]
    return text


def main() -> None:
    email_language.MIN_LETTERS = 0
    email_language.MIN_CJK = 0
    rows = []
    for n in CUTOFFS:
        right = wrong = unsure = 0
        mistakes: list[str] = []
        for lang, texts in SAMPLES.items():
            for text in texts:
                got = email_language.detect_language(prefix(text, n))
                if got is None:
                    unsure += 1
                elif got == lang:
                    right += 1
                else:
                    wrong += 1
                    mistakes.append(f"{lang}->{got}")
        total = right + wrong + unsure
        pct = round(100 * wrong / total, 1)
        rows.append(
            {"letters": n, "right": right, "wrong": wrong, "abstained": unsure, "wrong_pct": pct, "mistakes": mistakes}
        )
    print(json.dumps({"samples": sum(len(t) for t in SAMPLES.values()), "by_letters": rows}, indent=2))


if __name__ == "__main__":
    main()
