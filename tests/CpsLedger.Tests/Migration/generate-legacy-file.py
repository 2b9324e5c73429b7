#!/usr/bin/env python3
"""Writes a legacy CSV file of N products for measuring the legacy import (not test data: nothing reads it in the tests).

    python3 tests/CpsLedger.Tests/Migration/generate-legacy-file.py 1000000 /tmp/legacy-1m.csv

Deterministic (seeded): old accounts of 1 to 9 products (5 on average), about 70% of products with every detail, the rest
missing one or more (a sixth without a serial number), and one old account in fifty without products.
"""
import random
import sys

MODELS = ["EOS-R5", "EOS-R6-MKII", "EOS-1DX", "EF-40-STM", "RF-24-70-F28", "RF-70-200-F28", "EOS-C70", "SPEEDLITE-EL1"]
COUNTRIES = ["EE", "FI", "LV", "LT", "SE", "DE", "PL", "NL"]
DEALERS = ["Photopoint", "Foto Pood", "Kamerakauppa", "Scandinavian Photo", "Calumet", '"Foto, Video & Co"']


def main(products: int, path: str) -> None:
    rnd = random.Random(4711)
    written = 0
    account = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write("old_email,old_membership_number,model_code,serial_number,purchase_date,country_of_purchase,dealer\n")
        while written < products:
            account += 1
            email = f"member{account:07d}@old-cps.example"
            number = f"CPS-OLD-{account:07d}"
            if account % 50 == 0:
                out.write(f"{email},{number},,,,,\n")
                continue
            for _ in range(min(rnd.randint(1, 9), products - written)):
                written += 1
                complete = rnd.random() < 0.7
                serial = "" if not complete and rnd.random() < 0.5 else f"{rnd.randint(0, 99):02d}{written:010d}"
                date = f"{rnd.randint(2005, 2023)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}" if complete or rnd.random() < 0.5 else ""
                country = rnd.choice(COUNTRIES) if complete or rnd.random() < 0.5 else ""
                dealer = rnd.choice(DEALERS) if complete or rnd.random() < 0.3 else ""
                out.write(f"{email},{number},{rnd.choice(MODELS)},{serial},{date},{country},{dealer}\n")
    print(f"{path}: {written} products in {account} old accounts")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
