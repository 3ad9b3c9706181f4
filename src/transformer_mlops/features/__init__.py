"""What training and serving share, without Lightning: batching and padding, NER and QA windows
and labels, span selection, seq2seq pairs, the SQuAD metric."""
