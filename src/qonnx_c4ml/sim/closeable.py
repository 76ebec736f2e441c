"""A loaded simulator frees its Verilator model instances on close(), at the end of a `with`
block, and when it is garbage collected."""


class Closeable:
    def close(self):
        raise NotImplementedError

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
