//! Datasets: schema, manifest, chunk codec, writer and reader. (datasets issue)
