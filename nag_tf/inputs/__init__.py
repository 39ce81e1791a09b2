"""What goes in: photos read and decoded (`data`), then labelled once by the target and batched (`batches`)."""
