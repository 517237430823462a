"""The suggester: list rules + classifier + call context, with the emergency override on top.

Scores live in log space, one vector over the 12 targets and one over the 18 categories:
the classifier gives log-probabilities, and each matched list entry, the IVR choice, the
site and the caller's history add evidence. Emergency rules and seed 002's harassment rule then decide
outright, and a close race between two targets is reported as uncertain.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.routing.classifier import DEFAULT_MODEL_PATH, LinearModel, Prediction, features
from services.routing.crossval import IDENTITY, calibrate, read_calibration
from services.routing.dataset import TRAIN_PATH, file_sha256, read_examples
from services.routing.diversion_list import (
    DEFAULT_LIST_PATH,
    DiversionList,
    load_diversion_list,
)
from services.routing.emergency_lexicon import EmergencyLexicon, load_emergency_lexicon
from services.routing.history import harassment, open_matter
from services.routing.model import (
    EMERGENCY_OVERRIDE_TARGETS,
    TARGETS,
    UTILITIES,
    Alternative,
    CallContext,
    Reason,
    Suggestion,
    route_label,
)
from services.routing.rules import EmergencyDetector, EntryMatch, ListMatcher
from services.routing.text import TextProcessor

log = logging.getLogger(__name__)

FORCE = 12.0  # log-space boost that makes a rule's decision final
_REASON_ORDER = {"emergency_rule": 0, "history": 1, "rule": 2, "list_entry": 3,
                 "feature": 4, "ivr": 5, "site": 6}


@dataclass(frozen=True)
class _Ranking:
    """The targets, most likely first, and the category for a 12345 call."""

    ranked: list[str]
    by_target: dict[str, float]
    target: str
    category: str | None
    category_probs: np.ndarray


@dataclass(frozen=True)
class Tuning:
    """Evidence weights; chosen by 5-fold cross-validation on the training split only."""

    phrase: float = 2.0       # per matched key phrase of a list entry
    phrase_cap: int = 3       # a long list of synonyms must not drown the classifier
    ivr: float = 1.5
    site: float = 0.4
    history: float = 0.7      # the caller's open matter makes its label likelier
    margin: float = 0.15      # abstain when the top two targets are closer than this
    emergency_prob: float = 0.3  # the model alone flags an emergency when this sure (set for
    # recall by leave-one-writer-out cross-validation on the training split: 0.995 there)
    # ... and when a cue in the text was negated, past or a worry ("没着火", "担心会倒"),
    # only when far surer: the negation is evidence, not a veto.
    emergency_prob_ruled_out: float = 0.9
    emergency_prob_utility: float = 0.45  # the list names a utility's repair for what was said
    min_coverage: float = 0.5    # below this share of known features the text is unfamiliar


class Suggester:
    """Suggests a line for a call; build with `Suggester.load()` once per process."""

    def __init__(self, diversion_list: DiversionList, processor: TextProcessor,
                 model: LinearModel, tuning: Tuning = Tuning(),
                 lexicon: EmergencyLexicon | None = None,
                 calibration: dict[str, dict[str, float]] | None = None) -> None:
        self.diversion_list = diversion_list
        self.model = model
        self.tuning = tuning
        self._processor = processor
        self._matcher = ListMatcher(diversion_list, processor)
        self._detector = EmergencyDetector(diversion_list, lexicon or load_emergency_lexicon())
        self._calibration = calibration if calibration is not None else IDENTITY
        self._targets = model.target.labels
        self._target_index = {t: i for i, t in enumerate(self._targets)}
        self._categories = model.category.labels
        self._category_index = {c: i for i, c in enumerate(self._categories)}
        missing = set(TARGETS) - set(self._targets)
        if missing:
            raise ValueError(f"routing model cannot suggest {sorted(missing)}")

    @classmethod
    def load(cls, model_path: Path | None = None, *,
             list_path: Path = DEFAULT_LIST_PATH, tuning: Tuning = Tuning()) -> Suggester:
        """Load the shipped artifact; if it is missing, train one in memory from the shipped set."""
        started = time.perf_counter()
        diversion_list = load_diversion_list(list_path)
        lexicon = load_emergency_lexicon()
        processor = build_processor(diversion_list, lexicon)
        path = model_path or DEFAULT_MODEL_PATH
        if path.exists():
            model = LinearModel.read(path)
            _warn_if_stale(model, diversion_list, path)
        else:
            log.warning("routing model %s is missing; training one in memory from %s",
                        path, TRAIN_PATH)
            from services.routing.training import build_artifact

            model = LinearModel(build_artifact(read_examples(TRAIN_PATH), diversion_list,
                                               processor, file_sha256(TRAIN_PATH)))
        suggester = cls(diversion_list, processor, model, tuning, lexicon,
                        read_calibration(model.meta.get("train_sha256")))
        suggester.suggest("预热")  # the first jieba cut loads its dictionary
        log.info("routing suggester ready in %.2fs", time.perf_counter() - started)
        return suggester

    def features(self, text: str) -> list[str]:
        return features(*self._processor.analyse(self._processor.normalise(text or "")))

    def suggest(self, text: str, context: CallContext | None = None) -> Suggestion:
        normalised = self._processor.normalise(text or "")
        tokens, masked = self._processor.analyse(normalised)
        feats = features(tokens, masked)
        prediction = self.model.predict(feats) if tokens else None
        matches = self._matcher.match(tokens)
        reasons: list[Reason] = []

        target_scores, category_scores = self._text_evidence(prediction, matches)
        self._context_evidence(context, target_scores, category_scores, reasons)
        emergency, forced, linked_order_id = self._decisions(
            normalised, feats, bool(tokens), prediction, matches, context, target_scores, reasons)
        known = bool(tokens) or bool(context and any(c.category for c in context.history))
        rank = self._rank(target_scores, category_scores, known)
        uncertain = self._uncertain(rank, feats, bool(tokens), forced, context, reasons)
        basis = ("text" if not emergency else
                 "model_emergency" if any(r.ref == "model:emergency" for r in reasons) else "rule")
        confidence = calibrate(rank.by_target[rank.target], self._calibration, basis)
        if prediction is not None and not emergency:
            # A line picked without the emergency stage, for a call the model thinks may be
            # an emergency, is at most (1 - p_emergency) sure: the emergency stage might
            # have sent it elsewhere. (Round 3's blind figures were measured with this.)
            confidence = min(confidence, 1.0 - prediction.emergency_prob)
        return Suggestion(
            target=rank.target,
            category=rank.category,
            emergency=emergency,
            confidence=confidence,
            uncertain=uncertain,
            propose_three_way=uncertain,
            reasons=self._explained(reasons, matches, rank, prediction, bool(tokens)),
            alternatives=self._alternatives(rank.target, rank.ranked, rank.by_target,
                                            rank.category_probs, matches),
            linked_order_id=linked_order_id,
            basis=basis,
        )

    def _decisions(self, normalised: str, feats: list[str], has_tokens: bool,
                   prediction: Prediction | None, matches: list[EntryMatch],
                   context: CallContext | None, target_scores: np.ndarray,
                   reasons: list[Reason]) -> tuple[bool, bool, str | None]:
        """The rules that decide outright (emergency, harassment) and the open matter the
        call is about: (emergency, forced, linked order id)."""
        utility = any(m.entry.target in UTILITIES for m in matches)
        emergency = self._emergency(normalised, prediction, target_scores, reasons, utility)
        forced = emergency
        if context is not None and context.history and not emergency:
            forced = self._harassment(context, target_scores, reasons)
        linked_order_id = None
        if context is not None and context.history and has_tokens:
            linked_order_id = self._link(feats, context, reasons)
        return emergency, forced, linked_order_id

    def _rank(self, target_scores: np.ndarray, category_scores: np.ndarray,
              known: bool) -> _Ranking:
        target_probs = _softmax(target_scores)
        category_probs = _softmax(category_scores)
        ranked = [self._targets[i] for i in np.argsort(-target_probs, kind="stable")]
        by_target = {t: float(target_probs[i]) for t, i in self._target_index.items()}
        target = ranked[0]
        category = self._best_category(category_probs) if target == "12345" and known else None
        return _Ranking(ranked, by_target, target, category, category_probs)

    def _uncertain(self, rank: _Ranking, feats: list[str], has_tokens: bool, forced: bool,
                   context: CallContext | None, reasons: list[Reason]) -> bool:
        """A close race between two lines, or a text unlike what the model knows."""
        target, by_target = rank.target, rank.by_target
        runner_up = next((t for t in rank.ranked[1:]
                          if t not in self.diversion_list.equivalents(target)), None)
        close = bool(
            has_tokens and not forced and runner_up is not None
            and by_target[target] - by_target[runner_up] < self.tuning.margin
        )
        unfamiliar = has_tokens and not forced and \
            self.model.coverage(feats) < self.tuning.min_coverage
        if close and runner_up is not None:
            reasons.append(self._three_way_reason(target, runner_up, context))
        elif unfamiliar:
            reasons.append(Reason("rule", "001-R.3way",
                                  "来电内容与已知事项差别较大，建议三方通话协商受理平台；"
                                  "仍无法确定的由首接平台先行受理（001-R.first）"))
        return close or unfamiliar

    def _explained(self, reasons: list[Reason], matches: list[EntryMatch], rank: _Ranking,
                   prediction: Prediction | None, has_tokens: bool) -> list[Reason]:
        """Every reason, once, in the order an agent reads them."""
        reasons = reasons + self._list_reasons(matches, rank.target, rank.category, has_tokens)
        if prediction is not None:
            reasons += self._feature_reasons(prediction, rank.target, rank.category)
        if not reasons:
            reasons.append(Reason("site", "001-R.first",
                                  "尚无诉求内容：按首接负责制由接听平台先行受理"))
        return sorted(dict.fromkeys(reasons), key=lambda r: _REASON_ORDER[r.kind])

    # -- evidence -------------------------------------------------------------------------

    def _text_evidence(self, prediction: Prediction | None,
                       matches: list[EntryMatch]) -> tuple[np.ndarray, np.ndarray]:
        """Log-probabilities from the classifier plus the matched list entries' phrases."""
        if prediction is None:
            targets, categories = np.zeros(len(self._targets)), np.zeros(len(self._categories))
        else:
            targets = np.log(np.maximum(prediction.target_probs, 1e-12))
            categories = np.log(np.maximum(prediction.category_probs, 1e-12))
        target_hits = np.zeros(len(self._targets))
        category_hits = np.zeros(len(self._categories))
        for match in matches:
            target_hits[self._target_index[match.entry.target]] += len(match.phrases)
            if match.entry.category in self._category_index:
                category_hits[self._category_index[match.entry.category]] += len(match.phrases)
        cap, weight = self.tuning.phrase_cap, self.tuning.phrase
        return (targets + weight * np.minimum(target_hits, cap),
                categories + weight * np.minimum(category_hits, cap))

    def _context_evidence(self, context: CallContext | None, targets: np.ndarray,
                          categories: np.ndarray, reasons: list[Reason]) -> None:
        if context is None:
            return
        targets[self._target_index["110" if context.site == "110" else "12345"]] += self.tuning.site
        if context.ivr_choice:
            ivr_target = self.diversion_list.ivr_choices.get(context.ivr_choice, context.ivr_choice)
            if ivr_target in self._target_index:
                targets[self._target_index[ivr_target]] += self.tuning.ivr
                reasons.append(Reason("ivr", context.ivr_choice,
                                      f"来电人在语音导航中选择了 {context.ivr_choice} → {ivr_target}"))
        for call in context.history:
            if call.open and call.target in self._target_index:
                targets[self._target_index[call.target]] += self.tuning.history
            if call.open and call.category in self._category_index:
                categories[self._category_index[call.category]] += self.tuning.history

    def _emergency(self, normalised: str, prediction: Prediction | None,
                   targets: np.ndarray, reasons: list[Reason], utility: bool = False) -> bool:
        """The emergency stage, run before anything else may win: danger now goes to the
        emergency line the seeds name (110, 119, 120, 122, 12395), whatever the rest says.

        Rules fire first (they can cite their cue); failing those, the model's emergency head
        decides at a threshold set for recall, since a false alarm costs an agent a glance and
        a miss can cost a life. Where the list names a utility's emergency repair for what is
        said (a gas smell, a burst main) and no cue of harm to people fired, the utility is
        the seeds' answer (001-4.*), so the model must be surer.
        """
        finding = self._detector.detect(normalised)
        if finding.hits:
            chosen = finding.hits[0].rule.target
            for hit in finding.hits[:3]:
                seed = f"{hit.rule.seed}；" if hit.rule.seed else ""
                reasons.append(Reason("emergency_rule", hit.rule.id,
                                      f"{hit.rule.name}：「{hit.phrase}」→ {hit.rule.target}"
                                      f"（{seed}危及人身财产安全，先行处置，001-R.danger）"))
        elif prediction is not None and prediction.emergency_prob >= (
                self.tuning.emergency_prob_ruled_out if finding.ruled_out
                else self.tuning.emergency_prob_utility if utility
                else self.tuning.emergency_prob):
            chosen = max((t for t in self._targets if t in EMERGENCY_OVERRIDE_TARGETS),
                         key=lambda t: targets[self._target_index[t]])
            cues = self.model.top_features(prediction, self.model.emergency, "emergency")
            reasons.append(Reason("emergency_rule", "model:emergency",
                                  f"模型判断为紧急（p={prediction.emergency_prob:.2f}）："
                                  + "、".join(name.split(":", 1)[1] for name, _ in cues)
                                  + f" → {chosen}（001-R.danger）"))
        else:
            return False
        for target, i in self._target_index.items():
            if target not in EMERGENCY_OVERRIDE_TARGETS:
                targets[i] = -np.inf
        targets[self._target_index[chosen]] += FORCE
        return True

    def _harassment(self, context: CallContext, targets: np.ndarray,
                    reasons: list[Reason]) -> bool:
        finding = harassment(context.history)
        if finding is None:
            return False
        targets[self._target_index["110"]] += FORCE
        rule = self.diversion_list.rules["002-R.harass"]
        reasons.append(Reason("history", rule.id,
                              f"来电号码有 {finding.calls} 次被标记为 {'/'.join(finding.flags)}："
                              "恶意骚扰、扬言恐吓、醉酒或精神异常反复滋扰转交 110"))
        return True

    def _link(self, feats: list[str], context: CallContext, reasons: list[Reason]) -> str | None:
        found = open_matter(self.model.vector(feats), context.history, self._summary_vector)
        if found is None:
            return None
        call, score = found
        reasons.append(Reason("history", call.order_id or "",
                              f"重复来电，与未办结工单 {call.order_id} 相似（{score:.2f}），"
                              "关联原工单（001-R.feedback）"))
        return call.order_id

    def _summary_vector(self, summary: str) -> tuple[np.ndarray, np.ndarray]:
        normalised = self._processor.normalise(summary)
        return self.model.vector(features(*self._processor.analyse(normalised)))

    # -- output ---------------------------------------------------------------------------

    def _best_category(self, category_probs: np.ndarray) -> str:
        return self._categories[int(np.argmax(category_probs))]

    def _three_way_reason(self, target: str, runner_up: str, context: CallContext | None) -> Reason:
        site = context.site if context is not None else "12345"
        return Reason("rule", "001-R.3way",
                      f"{target} 与 {runner_up} 难以区分：建议三方通话协商受理平台；"
                      f"仍无法确定的由首接平台（{site}）先行受理（001-R.first）")

    def _list_reasons(self, matches: list[EntryMatch], target: str, category: str | None,
                      has_text: bool) -> list[Reason]:
        chosen = [m for m in matches if m.entry.target == target
                  and (category is None or m.entry.category == category)]
        others = [m for m in matches if m not in chosen]
        reasons = [Reason("list_entry", m.entry.id, f"{m.entry.name}：{'、'.join(m.phrases)}")
                   for m in sorted(chosen, key=lambda m: -len(m.phrases))]
        if not chosen and has_text:
            entry = self.diversion_list.entry_for_label(route_label(target, category))
            if entry is not None:
                reasons.append(Reason("list_entry", entry.id,
                                      f"{entry.name}（清单事项，由模型归类，未命中关键词）"))
        reasons += [Reason("list_entry", m.entry.id,
                           f"另命中 {m.entry.name}（→ {m.entry.target}）：{'、'.join(m.phrases)}")
                    for m in others]
        return reasons

    def _feature_reasons(self, prediction: Prediction, target: str,
                         category: str | None) -> list[Reason]:
        top = self.model.top_features(prediction, self.model.target, target)
        if category is not None:
            top += self.model.top_features(prediction, self.model.category, category, n=2)
        named: dict[str, float] = {}  # a word and its character pair would show twice
        for name, weight in top:
            named.setdefault(name.split(":", 1)[1], weight)
        if not named:
            return []
        words = "、".join(f"{name}({weight:+.2f})" for name, weight in named.items())
        return [Reason("feature", f"model:{route_label(target, category)}", f"模型特征：{words}")]

    def _alternatives(self, target: str, ranked: list[str], by_target: dict[str, float],
                      category_probs: np.ndarray, matches: list[EntryMatch]) -> list[Alternative]:
        # Lines the emergency override ruled out (probability 0) are no alternative.
        others = [t for t in ranked if t != target and by_target[t] > 0][:3]
        if target == "110" and any(m.entry.id == "001-1.3" for m in matches):
            others = ["122"] + [t for t in others if t != "122"][:2]
        return [Alternative(t, self._best_category(category_probs) if t == "12345" else None,
                            by_target[t]) for t in others]


def build_processor(diversion_list: DiversionList,
                    lexicon: EmergencyLexicon | None = None) -> TextProcessor:
    lexicon = lexicon or load_emergency_lexicon()
    phrases = [p for e in diversion_list.entries for p in (*e.phrases, e.name)]
    return TextProcessor(phrases, diversion_list.synonyms, lexicon.asr_words, lexicon.idioms)


def _warn_if_stale(model: LinearModel, diversion_list: DiversionList, path: Path) -> None:
    if model.meta.get("list_sha256") != diversion_list.sha256:
        log.warning("routing model %s was built from another diversion list; "
                    "rebuild it with `hotline route --build-model`", path)


def _softmax(scores: np.ndarray) -> np.ndarray:
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()
