from perfgate_lib.io import storage


def test_gcsfs_round_trip_through_emulator(gcs):
    storage.write_text("gs://marin-us-central1/tmp/a/b.json", '{"x": 1}')
    assert storage.read_text("gs://marin-us-central1/tmp/a/b.json") == '{"x": 1}'
    assert storage.glob("gs://marin-us-central1/tmp/*/b.json") == [
        "gs://marin-us-central1/tmp/a/b.json"
    ]
    assert storage.exists("gs://marin-us-central1/tmp/a/b.json")
