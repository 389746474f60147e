from sellerhub.cli import main

main()
