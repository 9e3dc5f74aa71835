"""The oracle: a gRPC service doing the heavy computation for the api."""
