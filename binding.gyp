{
  "targets": [
    {
      "target_name": "dpc-runjob",
      "type": "executable",
      "sources": ["native/runjob/runjob.c"],
      "cflags": ["-std=c99", "-Wall", "-Wextra"]
    }
  ]
}
