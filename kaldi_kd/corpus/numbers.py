"""Numbers to English words (uppercase, as in Kaldi word lists).

Example:
    >>> number_to_words(1984)
    'ONE THOUSAND NINE HUNDRED EIGHTY FOUR'
    >>> year_to_words(1984)
    'NINETEEN EIGHTY FOUR'
    >>> ordinal_to_words(22)
    'TWENTY SECOND'
"""

from __future__ import annotations

_ONES = ("ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN ELEVEN TWELVE THIRTEEN "
         "FOURTEEN FIFTEEN SIXTEEN SEVENTEEN EIGHTEEN NINETEEN").split()
_TENS = "_ _ TWENTY THIRTY FORTY FIFTY SIXTY SEVENTY EIGHTY NINETY".split()
_SCALES = ((10 ** 12, "TRILLION"), (10 ** 9, "BILLION"), (10 ** 6, "MILLION"), (1000, "THOUSAND"))
_ORDINAL_WORDS = {"ONE": "FIRST", "TWO": "SECOND", "THREE": "THIRD", "FIVE": "FIFTH",
                  "EIGHT": "EIGHTH", "NINE": "NINTH", "TWELVE": "TWELFTH"}


def _below_thousand(n: int) -> str:
    words = []
    if n >= 100:
        words += [_ONES[n // 100], "HUNDRED"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
    if n or not words:
        words.append(_ONES[n])
    return " ".join(words)


def number_to_words(n: int) -> str:
    """Cardinal number in words, e.g. 2005 -> 'TWO THOUSAND FIVE'.

    Args:
        n: an integer (negative gives 'MINUS ...'); above 999 trillion the digits are read.
    Returns:
        space-separated uppercase words.
    """
    if n < 0:
        return "MINUS " + number_to_words(-n)
    if n >= 10 ** 15:
        return digits_to_words(str(n))
    if n < 1000:
        return _below_thousand(n)
    words = []
    for value, name in _SCALES:
        if n >= value:
            words += [_below_thousand(n // value) if n // value < 1000 else number_to_words(n // value), name]
            n %= value
    if n:
        words.append(_below_thousand(n))
    return " ".join(words)


def digits_to_words(digits: str) -> str:
    """Read a digit string one digit at a time: '007' -> 'ZERO ZERO SEVEN'."""
    return " ".join(_ONES[int(d)] for d in digits if d.isdigit())


def year_to_words(n: int) -> str:
    """A year read in pairs: 1984 -> 'NINETEEN EIGHTY FOUR', 1905 -> 'NINETEEN OH FIVE'.

    Years 2000-2009 and whole thousands are read as cardinals ('TWO THOUSAND SIX').
    """
    high, low = divmod(n, 100)
    if n < 1000 or n >= 10000 or (2000 <= n < 2010) or n % 1000 == 0:
        return number_to_words(n)
    if low == 0:
        return f"{number_to_words(high)} HUNDRED"
    if low < 10:
        return f"{number_to_words(high)} OH {_ONES[low]}"
    return f"{number_to_words(high)} {number_to_words(low)}"


def ordinal_to_words(n: int) -> str:
    """Ordinal number in words: 1 -> 'FIRST', 21 -> 'TWENTY FIRST', 100 -> 'ONE HUNDREDTH'."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("Y"):
        words[-1] = last[:-1] + "IETH"
    else:
        words[-1] = last + "TH"
    return " ".join(words)
