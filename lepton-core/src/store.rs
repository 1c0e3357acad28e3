//! Opening object stores from URIs (local, memory, s3, gs, az, http). (platform issue)
