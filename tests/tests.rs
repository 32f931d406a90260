mod capscan;
