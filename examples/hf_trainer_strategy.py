"""A Hugging Face ``Trainer`` user who takes the optimizer and schedule from a dals_tune
strategy: ``strategies.build`` gives ``(optimizer, scheduler)`` for the model, and
``Trainer(optimizers=...)`` trains with them.

    python examples/hf_trainer_strategy.py --model sentence-transformers/all-MiniLM-L6-v2

Any strategy whose optimizer steps without a closure works (SAM's second pass does not fit
Trainer's loop). DALS reads the training loss for its phase detector, so the trainer below
hands it each step's loss; a strategy without a scheduler object (no schedule, or one kept
inside its optimizer as DALS does) gets one that changes nothing, since Trainer would
otherwise add its own linear decay.
"""

from __future__ import annotations

import argparse
import math

import torch
from datasets import Dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from dals_tune import strategies

SENTENCES = {
    0: ["what a dull and tedious film", "i hated every minute", "a boring mess of a plot"],
    1: ["a wonderful and moving film", "i loved every minute", "a brilliant clever story"],
}


class KeepLearningRates(torch.optim.lr_scheduler.LRScheduler):
    """A scheduler that changes nothing: for a strategy without one, or one whose optimizer
    sets its own LRs (DALS), where Trainer would otherwise add its linear decay."""

    def get_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]


class LearningRateTrace(TrainerCallback):
    """The first parameter group's LR after every step, as the optimizer holds it."""

    def __init__(self, optimizer):
        self.optimizer, self.rates = optimizer, []

    def on_step_end(self, args, state, control, **kwargs):
        self.rates.append(float(self.optimizer.param_groups[0]["lr"]))


class StrategyTrainer(Trainer):
    """Trainer that shows a loss-observing optimizer (DALS) each step's training loss."""

    def __init__(self, *args, observed_optimizer=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.observe_loss = getattr(observed_optimizer, "observe_loss", None)

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.observe_loss is not None:
            self.observe_loss(float(loss))
        return loss


def sentiment_data(tokenizer, copies: int) -> Dataset:
    texts = [text for label in SENTENCES for text in SENTENCES[label]] * copies
    labels = [label for label in SENTENCES for _ in SENTENCES[label]] * copies
    data = Dataset.from_dict({"text": texts, "label": labels})
    return data.map(lambda rows: tokenizer(rows["text"], padding="max_length", max_length=16),
                    batched=True)  # fmt: skip


def train_with_strategy(model_name: str, strategy: str, output_dir: str, epochs: int = 2,
                        copies: int = 8, batch_size: int = 8) -> dict:  # fmt: skip
    """Fine-tune ``model_name`` with ``strategy``'s optimizer and schedule; the final
    training loss and the strategy's LR trace."""
    tokenizer = AutoTokenizer.from_pretrained(model_name)
    model = AutoModelForSequenceClassification.from_pretrained(model_name, num_labels=2)
    data = sentiment_data(tokenizer, copies)
    steps_per_epoch = math.ceil(len(data) / batch_size)
    record = strategies.get(strategy)
    if record.needs_closure:
        raise SystemExit(f"{strategy} needs a closure per step, which Trainer does not give")
    optimizer, scheduler = strategies.build(
        strategy, model, total_steps=epochs * steps_per_epoch, regime="finetune",
        steps_per_epoch=steps_per_epoch,
    )  # fmt: skip
    if scheduler is None:  # the strategy has no schedule (or schedules inside its optimizer)
        scheduler = KeepLearningRates(optimizer)
    trace = LearningRateTrace(optimizer)
    arguments = TrainingArguments(
        output_dir=output_dir, num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, seed=0,
    )  # fmt: skip
    trainer = StrategyTrainer(
        model=model, args=arguments, train_dataset=data, optimizers=(optimizer, scheduler),
        observed_optimizer=optimizer, callbacks=[trace],
    )  # fmt: skip
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    lrs = [
        entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry
    ]
    return {"losses": losses, "learning_rates": lrs, "steps": trainer.state.global_step}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--strategy", default="dals")
    parser.add_argument("--output-dir", default="trainer_output")
    args = parser.parse_args()
    result = train_with_strategy(args.model, args.strategy, args.output_dir)
    print(f"{result['steps']} steps; loss {result['losses'][0]:.3f} → {result['losses'][-1]:.3f}")
