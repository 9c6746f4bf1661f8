"""`check -k EXPR`: choosing checks by the names that `check` prints.

A student reads names such as `beras.layers.Dense: forward matches the
reference` and pastes one, or a part of one, after `-k`. So an expression is
made of case-insensitive substrings of those names:

    -k Dense                                   every check of Dense (and of nothing else named so)
    -k "dense and not gradient"                Dense's checks that do not mention gradients
    -k "(Tanh or Sigmoid) and input gradient"  words next to each other form one substring
    -k '"changes nothing" and Adam'            quotes keep and/or/not/parentheses as text
    -k "beras.layers.Dense: forward matches the reference"   a whole name, pasted

Grammar (`and` binds tighter than `or`, `not` tighter than both):

    expression := conjunction ("or" conjunction)*
    conjunction := negation ("and" negation)*
    negation   := "not" negation | "(" expression ")" | text
    text       := one or more words that are not and/or/not, or a quoted string

Printed names contain "and", "not" and parentheses themselves ("... and changes
nothing else", "(and 1 variants)"): an expression that is, as it stands, a
substring of some check's name is taken as that text, never parsed. A pasted
name, or any piece of one, therefore always selects what it reads.
"""

import re

OPERATORS = ("and", "or", "not")
_TOKEN = re.compile(r"""\s*(?:(?P<paren>[()])|"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<word>[^\s()"']+))""")


class ExpressionError(ValueError):
    """The expression cannot be read; the message says where and how to fix it."""


def normal(text):
    """Text as names are compared: lower case, runs of white space as one space."""
    return " ".join(text.split()).lower()


def matcher(expression, names=()):
    """A function name -> bool for `expression`.

    `names`: every name a check may have; the expression is plain text when
    it is a substring of one of them (see the module's docstring).
    Raises ExpressionError when it is neither such text nor a valid expression.
    """
    literal = normal(expression)
    if not literal:
        raise ExpressionError("the expression is empty")
    if any(literal in normal(name) for name in names):
        return lambda name: literal in normal(name)
    tokens = _tokens(expression)
    parser = _Parser(tokens)
    test = parser.expression()
    if parser.position != len(tokens):
        raise ExpressionError(parser.unexpected())
    return lambda name: test(normal(name))


def _tokens(expression):
    """[(kind, text)]: kind "(", ")", an operator, or "text". Words side by side
    form one text (a piece of a name has spaces); a quoted string stays apart."""
    tokens, position, joinable = [], 0, False
    expression = expression.rstrip()
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:  # only an unclosed quote is left
            raise ExpressionError(f"a quote is not closed: {expression[position:].strip()!r}")
        position = match.end()
        word = match["word"]
        if match["paren"]:
            tokens.append((match["paren"], match["paren"]))
        elif word is not None and word.lower() in OPERATORS:
            tokens.append((word.lower(), word))
        elif word is not None and joinable:
            tokens[-1] = ("text", f"{tokens[-1][1]} {word}")
        else:
            tokens.append(("text", word if word is not None else match["dq"] if match["dq"] is not None else match["sq"]))
        joinable = word is not None and tokens[-1][0] == "text"
    return tokens


class _Parser:
    """Recursive descent over the tokens; each rule returns a predicate on a normal() name."""

    def __init__(self, tokens):
        self.tokens = tokens
        self.position = 0

    def peek(self):
        return self.tokens[self.position][0] if self.position < len(self.tokens) else None

    def take(self):
        token = self.tokens[self.position]
        self.position += 1
        return token

    def unexpected(self):
        if self.position >= len(self.tokens):
            return "the expression ends too soon (after and/or/not, or before a closing parenthesis)"
        kind, text = self.tokens[self.position]
        return (
            f"unexpected {text!r} at token {self.position + 1}; a part that holds and/or/not or parentheses "
            "must be quoted, e.g. -k '\"changes nothing\" and Adam' (a name pasted whole always works)"
        )

    def expression(self):
        parts = [self.conjunction()]
        while self.peek() == "or":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda name: any(part(name) for part in parts))

    def conjunction(self):
        parts = [self.negation()]
        while self.peek() == "and":
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda name: all(part(name) for part in parts))

    def negation(self):
        kind = self.peek()
        if kind == "not":
            self.take()
            inner = self.negation()
            return lambda name: not inner(name)
        if kind == "(":
            self.take()
            inner = self.expression()
            if self.peek() != ")":
                raise ExpressionError(self.unexpected() if self.peek() else "a parenthesis is not closed")
            self.take()
            return inner
        if kind == "text":
            text = normal(self.take()[1])
            if not text:
                raise ExpressionError("an empty quoted string matches every name: remove it")
            return lambda name: text in name
        raise ExpressionError(self.unexpected())
