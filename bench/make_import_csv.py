#!/usr/bin/env python3
"""Writes a CSV of N distinct, valid certificates for `starmark import` benchmarks.

Usage: make_import_csv.py N OUT.csv [--numbered]
Every row has a valid unified social credit code (GB 32100 check character computed here),
a Chinese holder name, scores that pass, and no number (the registry assigns them). With
`--numbered`, each row also has an explicit certificate number, SMBENCH000001 to SMBENCH<N>
(zero-padded to at least 6 digits), so that benchmarks know every key in advance.
"""
import random
import sys

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "厦门", "成都", "武汉", "南京", "青岛"]
TRADES = ["电器", "家居", "汽车服务", "通信设备", "厨卫科技", "电梯工程", "办公设备", "制冷设备"]


def uscc(n: int) -> str:
    body = "9135" + f"{n:013d}"
    total = sum(ALPHABET.index(c) * w for c, w in zip(body, WEIGHTS))
    return body + ALPHABET[(31 - total % 31) % 31]


def number(i: int, count: int) -> str:
    """The explicit certificate number of row i (0-based) written by --numbered."""
    return f"SMBENCH{i + 1:0{max(6, len(str(count)))}d}"


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--numbered"]
    numbered = len(args) != len(sys.argv) - 1
    if len(args) != 2:
        sys.exit("usage: make_import_csv.py N OUT.csv [--numbered]")
    count, out = int(args[0]), args[1]
    rng = random.Random(27922)
    with open(out, "w", encoding="utf-8") as f:
        f.write("number," if numbered else "")
        f.write("holder_name,holder_name_en,uscc,address,scope,system,commodity,customer\n")
        for i in range(count):
            city, trade = rng.choice(CITIES), rng.choice(TRADES)
            system = rng.randint(30, 40)
            commodity = rng.randint(27, 35)
            customer = rng.randint(18, 25)
            if numbered:
                f.write(number(i, count) + ",")
            f.write(
                f"{city}第{i}号{trade}有限公司,Company {i} Co. Ltd.,{uscc(i)},"
                f"{city}市示例路{i}号,{trade}产品的售后服务,{system},{commodity},{customer}\n"
            )


if __name__ == "__main__":
    main()
