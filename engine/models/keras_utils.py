"""Keras helpers shared by the networks (imported only when training: serving never loads Keras)."""
from __future__ import annotations


def progress_callback(progress, stage: str):
    """A Keras callback that reports each epoch's losses through ``progress``."""
    import keras

    class _EpochProgress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            text = ", ".join(f"{k} {v:.4f}" for k, v in logs.items() if k.endswith("loss"))
            progress(stage, f"epoch {epoch + 1}: {text}")

    return _EpochProgress()


def fit_with_early_stopping(model, train, validation, epochs: int, patience: int, progress, stage: str,
                            monitor: str = "val_loss") -> dict[str, list[float]]:
    """``model.fit`` on the batches ``train`` (a :class:`engine.models.feeding.ChunkedExamples`) with
    progress per epoch and, when ``validation`` batches are given, early stopping on ``monitor``
    (best weights restored); returns the per-epoch history."""
    import keras

    callbacks = [progress_callback(progress, stage)]
    if validation is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode="min", patience=patience,
                                                     restore_best_weights=True))
    # the batches come shuffled (ChunkedExamples): Keras shuffling their order would rebuild a chunk per batch
    fit = model.fit(train, validation_data=validation, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)
    return {k: [float(v) for v in vals] for k, vals in fit.history.items()}
