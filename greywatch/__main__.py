from greywatch.cli import main

main()
